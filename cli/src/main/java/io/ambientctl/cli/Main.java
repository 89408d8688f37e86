package io.ambientctl.cli;

import java.io.PrintWriter;
import java.lang.reflect.Constructor;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/** Entry point: a thin shell around {@link #run}, so tests drive the CLI in-process. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        io.ambientctl.util.Trace.mark("main");
        Warmup.start(args);
        PrintWriter out = new PrintWriter(System.out, true);
        PrintWriter err = new PrintWriter(System.err, true);
        CommandLine cl = commandLine(out, err, args);
        ((AmbientCtl) cl.getCommand()).terminal = System.console() != null;
        io.ambientctl.util.Trace.mark("command line built");
        int code = cl.execute(args);
        io.ambientctl.util.Trace.mark("command done");
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
     * The command tree for running {@code args}: the root with only the subcommand invoked (and of a command
     * with subcommands, only the one invoked) when that is clear from the arguments, else (no command, an
     * unknown one, help, completion, the shell) with all.
     */
    static CommandLine commandLine(PrintWriter out, PrintWriter err, String[] args) {
        CommandLine cl = new CommandLine(new AmbientCtl(out, err), FACTORY);
        List<String> words = args == null ? List.of() : commandWords(cl.getCommandSpec(), args);
        String name = words.isEmpty() ? null : words.get(0);
        boolean all = name == null || AmbientCtl.NEED_ALL.contains(name) || !AmbientCtl.COMMANDS.containsKey(name);
        AmbientCtl.COMMANDS.forEach((n, c) -> {
            if (all || n.equals(name)) {
                cl.addSubcommand(n, command(c, all || words.size() < 2 ? null : words.get(1)));
            }
        });
        return configure(cl, out, err);
    }

    /** {@code command}, with its own subcommands if it has any: only {@code only} when that is one, else all. */
    private static Object command(Class<?> command, String only) {
        Map<String, Class<?>> nested = AmbientCtl.NESTED.get(command);
        if (nested == null) {
            return command;
        }
        CommandLine cl = new CommandLine(command, FACTORY);
        nested.forEach((n, c) -> {
            if (only == null || !nested.containsKey(only) || n.equals(only)) {
                cl.addSubcommand(n, c);
            }
        });
        return cl;
    }

    /**
     * The first two words of {@code args} that are not root options or their values (the subcommand's name
     * and its subcommand's); stops at a help option (help lists all the subcommands) and at an option it does
     * not know, where the whole tree has to sort things out.
     */
    static List<String> commandWords(CommandSpec root, String[] args) {
        List<String> words = new ArrayList<>();
        for (int i = 0; i < args.length && words.size() < 2; i++) {
            String a = args[i];
            if (!a.startsWith("-")) {
                words.add(a);
                continue;
            }
            if (a.equals("-h") || a.equals("--help")) {
                break; // help lists the subcommands of the command it is given for: all of them
            }
            if (a.contains("=")) {
                continue;
            }
            OptionSpec o = a.equals("--") ? null : root.findOption(a);
            if (o == null) {
                break; // clustered, unknown or '--'
            }
            if (o.arity().max() > 0) {
                i++;
            }
        }
        return words;
    }

    /**
     * Creates the commands through their no-argument constructors, whatever their access (picocli's default
     * factory first tries the public one, and throws, for each package-private command here).
     */
    static final CommandLine.IFactory FACTORY = new CommandLine.IFactory() {
        @Override
        public <K> K create(Class<K> cls) throws Exception {
            if (cls.isInterface() || Modifier.isAbstract(cls.getModifiers())) {
                return CommandLine.defaultFactory().create(cls); // collections for multi-value options
            }
            Constructor<K> c = cls.getDeclaredConstructor();
            c.setAccessible(true);
            return c.newInstance();
        }
    };

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
