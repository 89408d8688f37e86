package io.ambientctl.cli;

import java.io.PrintWriter;

import picocli.CommandLine;

/** Entry point: a thin shell around {@link #run}, so tests drive the CLI in-process. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        CommandLine cl = commandLine(out, err);
        ((AmbientCtl) cl.getCommand()).terminal = System.console() != null;
        int code = cl.execute(args);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs one command line; returns its exit code. Nothing here calls System.exit. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = commandLine(out, err);
        return cl.execute(args);
    }

    public static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        AmbientCtl root = new AmbientCtl(out, err);
        CommandLine cl = new CommandLine(root);
        cl.setOut(out);
        cl.setErr(err);
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        // '--lab demo' / '--lab lab': an option's value may be a command's name
        cl.setAllowSubcommandsAsOptionParameters(true);
        cl.setExecutionExceptionHandler(new ErrorHandler(root));
        cl.setParameterExceptionHandler(new ErrorHandler(root));
        return cl;
    }
}
