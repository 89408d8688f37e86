package io.ambientctl.cli;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.reader.impl.DefaultParser;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;
import picocli.shell.jline3.PicocliJLineCompleter;

@Command(name = "shell", header = "Interactive shell with completion and history", description = {
    "Run ambientctl's commands interactively: TAB completes commands, options, modes and the network "
            + "namespaces under /var/run/netns; the history is kept in ~/.ambientctl_history (Ctrl-R searches it). "
            + "'help' and 'help COMMAND' show the help, Ctrl-C cancels the line, Ctrl-D or 'exit' leaves. Global "
            + "options given to 'shell' (e.g. --lab, --state-dir, -o json) apply to every command in it.",
    "Each line runs as 'ambientctl LINE' would, with the same exit codes; the shell shows a failing one's code."},
        footerHeading = "%nExamples:%n", footer = {
            "  ambientctl shell",
            "  ambientctl --lab demo shell",
            "  ambientctl shell --history /tmp/ambientctl_history"})
public class ShellCommand extends BaseCommand implements Callable<Integer> {
    static final String HISTORY_FILE = ".ambientctl_history";

    @Option(names = "--history", paramLabel = "FILE",
            description = "History file (default: ~/" + HISTORY_FILE + ").")
    Path history;

    @Override
    public Integer call() throws IOException {
        List<String> globals = globalArgs(spec.root().commandLine().getParseResult());
        Path historyFile = history != null ? history : Path.of(System.getProperty("user.home"), HISTORY_FILE);
        try (Terminal terminal = TerminalBuilder.builder().name("ambientctl").system(true).build()) {
            CommandLine model = Main.commandLine(new PrintWriter(PrintWriter.nullWriter()),
                    new PrintWriter(PrintWriter.nullWriter()));
            DefaultParser parser = new DefaultParser();
            parser.setEscapeChars(null); // backslashes are paths' and rules', not escapes
            LineReader reader = LineReaderBuilder.builder().appName("ambientctl").terminal(terminal)
                    .completer(new PicocliJLineCompleter(model.getCommandSpec())).parser(parser)
                    .variable(LineReader.HISTORY_FILE, historyFile)
                    .variable(LineReader.LIST_MAX, 100)
                    .build();
            PrintWriter tw = terminal.writer();
            String prompt = g().lab != null ? "ambientctl[lab " + g().lab + "]> " : "ambientctl> ";
            tw.println("ambientctl shell: TAB completes, 'help' lists the commands, Ctrl-D leaves.");
            tw.flush();
            while (true) {
                String line;
                try {
                    line = reader.readLine(prompt);
                } catch (UserInterruptException e) {
                    continue; // Ctrl-C: drop the line
                } catch (EndOfFileException e) {
                    break; // Ctrl-D
                }
                List<String> words = new ArrayList<>(reader.getParsedLine().words());
                words.removeIf(String::isEmpty);
                if (words.isEmpty()) {
                    continue;
                }
                String first = words.get(0);
                if (first.equals("exit") || first.equals("quit")) {
                    break;
                }
                if (first.equals("shell")) {
                    tw.println("ambientctl: already in the shell");
                    tw.flush();
                    continue;
                }
                List<String> args = new ArrayList<>(globals);
                args.addAll(words);
                int code = runLine(terminal, tw, args);
                if (code != ExitCode.OK) {
                    tw.println("(exit code " + code + ")");
                }
                tw.flush();
            }
            reader.getHistory().save();
        }
        return ExitCode.OK;
    }

    /** Runs one line as a fresh command line; Ctrl-C meanwhile interrupts it (not the shell). */
    private static int runLine(Terminal terminal, PrintWriter tw, List<String> args) {
        CommandLine cl = Main.commandLine(tw, tw);
        ((AmbientCtl) cl.getCommand()).terminal = true;
        Thread worker = Thread.currentThread();
        Terminal.SignalHandler previous = terminal.handle(Terminal.Signal.INT, s -> worker.interrupt());
        try {
            return cl.execute(args.toArray(String[]::new));
        } finally {
            terminal.handle(Terminal.Signal.INT, previous);
            Thread.interrupted(); // a Ctrl-C that came late must not hit the next line
        }
    }

    /** The global options given with 'shell' (anywhere on its command line), to pass to every line. */
    static List<String> globalArgs(ParseResult root) {
        List<String> out = new ArrayList<>();
        for (ParseResult pr = root; pr != null; pr = pr.subcommand()) {
            for (OptionSpec o : pr.matchedOptions()) {
                if (o.scopeType() != ScopeType.INHERIT || o.usageHelp() || o.versionHelp()) {
                    continue;
                }
                if (o.arity().max() == 0) {
                    out.add(o.longestName());
                } else {
                    for (String v : o.originalStringValues()) {
                        out.add(o.longestName() + "=" + v);
                    }
                }
            }
        }
        return out;
    }
}
