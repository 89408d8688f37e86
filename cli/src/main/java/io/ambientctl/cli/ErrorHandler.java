package io.ambientctl.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

import io.ambientctl.bpf.BpfException;
import io.ambientctl.bpf.sys.NativeLibraryException;
import io.ambientctl.net.NetNsException;
import io.ambientctl.util.Exec;
import io.ambientctl.util.ExitCodeException;
import picocli.CommandLine;
import picocli.CommandLine.IExecutionExceptionHandler;
import picocli.CommandLine.IParameterExceptionHandler;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;

/** Maps failures to a message and an exit code; stack traces only with --stacktrace. */
final class ErrorHandler implements IExecutionExceptionHandler, IParameterExceptionHandler {
    private final AmbientCtl root;

    ErrorHandler(AmbientCtl root) {
        this.root = root;
    }

    @Override
    public int handleParseException(ParameterException ex, String[] args) {
        CommandLine cl = ex.getCommandLine();
        PrintWriter err = cl.getErr();
        err.println("ambientctl: " + ex.getMessage());
        if (!CommandLine.UnmatchedArgumentException.printSuggestions(ex, err)) {
            err.println("See '" + cl.getCommandSpec().qualifiedName() + " --help'.");
        }
        return ExitCode.USAGE;
    }

    @Override
    public int handleExecutionException(Exception ex, CommandLine cl, ParseResult parseResult) {
        PrintWriter err = cl.getErr();
        int code = codeOf(ex);
        String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage();
        err.println("ambientctl: " + (code == ExitCode.FAILED && !(ex instanceof ExitCodeException) ? "error: " : "")
                + msg);
        if (root.global.stacktrace) {
            StringWriter sw = new StringWriter();
            ex.printStackTrace(new PrintWriter(sw));
            err.print(sw);
        }
        err.flush();
        return code;
    }

    static int codeOf(Throwable ex) {
        if (ex instanceof ExitCodeException e) {
            return e.exitCode();
        }
        if (ex instanceof NetNsException e && e.notFound()) {
            return ExitCode.NOT_FOUND;
        }
        if (ex instanceof IllegalArgumentException) {
            return ExitCode.USAGE;
        }
        if (ex instanceof BpfException || ex instanceof Exec.ExecException || ex instanceof NativeLibraryException) {
            return ExitCode.FAILED;
        }
        return ExitCode.FAILED;
    }
}
