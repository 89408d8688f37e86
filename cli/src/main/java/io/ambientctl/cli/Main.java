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
        CommandLine cl = commandLine(out, err, args);
        ((AmbientCtl) cl.getCommand()).terminal = System.console() != null;
        int code = cl.execute(args);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs one command line; returns its exit code. Nothing here calls System.exit. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = commandLine(out, err, args);
        return cl.execute(args);
    }

    /** The whole command tree (help, completion, the shell, the generated docs). */
    public static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        return commandLine(out, err, (String[]) null);
    }

    /**
     * The command tree for running {@code args}: the root with only the subcommand invoked when that is
     * clear from the arguments, else (no command, an unknown one, help, completion, shell) with all.
     */
    static CommandLine commandLine(PrintWriter out, PrintWriter err, String[] args) {
        CommandLine cl = new CommandLine(new AmbientCtl(out, err));
        String name = args == null ? null : commandName(cl.getCommandSpec(), args);
        for (Class<?> c : AmbientCtl.COMMANDS) {
            if (name == null || AmbientCtl.NEED_ALL.contains(name) || name.equals(nameOf(c))) {
                cl.addSubcommand(c);
            }
        }
        if (cl.getSubcommands().isEmpty()) {
            AmbientCtl.COMMANDS.forEach(cl::addSubcommand); // an unknown command: suggest the right one
        }
        return configure(cl, out, err);
    }

    private static String nameOf(Class<?> command) {
        return command.getAnnotation(picocli.CommandLine.Command.class).name();
    }

    /** The first word of {@code args} that is not a root option or its value: the subcommand's name. */
    static String commandName(picocli.CommandLine.Model.CommandSpec root, String[] args) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--")) {
                return null;
            }
            if (!a.startsWith("-")) {
                return a;
            }
            if (a.contains("=")) {
                continue;
            }
            picocli.CommandLine.Model.OptionSpec o = root.findOption(a);
            if (o == null) {
                return null; // clustered or unknown: the whole tree sorts it out
            }
            if (o.arity().max() > 0) {
                i++;
            }
        }
        return null;
    }

    /** The settings, applied after the subcommands are added (picocli applies them to those present). */
    private static CommandLine configure(CommandLine cl, PrintWriter out, PrintWriter err) {
        AmbientCtl root = (AmbientCtl) cl.getCommand();
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
