package io.ambientctl.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;

/**
 * Help an administrator can act on, for every command in the tree (commands added later included):
 * a header and a description, every option and parameter described, examples, the exit codes.
 * Examples that call ambientctl must parse.
 */
class HelpContractTest {
    static List<CommandLine> visibleCommands() {
        List<CommandLine> all = new ArrayList<>();
        walk(GeneratedDocs.model(), all);
        return all;
    }

    private static void walk(CommandLine cl, List<CommandLine> into) {
        CommandSpec spec = cl.getCommandSpec();
        if (spec.usageMessage().hidden() || spec.userObject() instanceof CommandLine.HelpCommand) {
            return; // hidden, or picocli's own 'help'
        }
        into.add(cl);
        cl.getSubcommands().values().stream().distinct().forEach(sub -> walk(sub, into));
    }

    @Test
    void everyCommandIsDescribedWithExamplesAndExitCodes() {
        List<String> problems = new ArrayList<>();
        for (CommandLine cl : visibleCommands()) {
            CommandSpec spec = cl.getCommandSpec();
            String name = spec.qualifiedName();
            if (String.join("", spec.usageMessage().header()).isBlank()) {
                problems.add(name + ": no header (the one-line summary in command lists and man NAME)");
            }
            if (String.join("", spec.usageMessage().description()).isBlank()) {
                problems.add(name + ": no description");
            }
            if (!String.join("", spec.usageMessage().footerHeading()).contains("Examples")
                    || examples(spec).isEmpty()) {
                problems.add(name + ": no examples in its help (footer 'Examples:' with '  ambientctl ...' lines)");
            }
            if (!spec.usageMessage().exitCodeList().keySet().stream().map(String::strip).toList().contains("0")) {
                problems.add(name + ": no exit codes in its help");
            }
            for (OptionSpec o : spec.options()) {
                if (!o.hidden() && String.join("", o.description()).isBlank()) {
                    problems.add(name + " " + o.longestName() + ": option not described");
                }
            }
            for (PositionalParamSpec p : spec.positionalParameters()) {
                if (!p.hidden() && String.join("", p.description()).isBlank()) {
                    problems.add(name + " " + p.paramLabel() + ": parameter not described");
                }
            }
        }
        assertThat(problems).as("help an administrator can act on").isEmpty();
        assertThat(visibleCommands()).hasSizeGreaterThan(15);
    }

    @Test
    void everyExampleParses() {
        List<String> problems = new ArrayList<>();
        int checked = 0;
        for (CommandLine cl : visibleCommands()) {
            for (String example : examples(cl.getCommandSpec())) {
                String[] words = commandWords(example);
                if (words == null) {
                    continue; // uses the shell ($(...), <(...), >): not something to parse here
                }
                try {
                    GeneratedDocs.model().parseArgs(words);
                    checked++;
                } catch (CommandLine.ParameterException e) {
                    problems.add(cl.getCommandSpec().qualifiedName() + ": '" + example.strip() + "': " + e.getMessage());
                }
            }
        }
        assertThat(problems).isEmpty();
        assertThat(checked).isGreaterThan(25);
    }

    @Test
    void globalOptionsAreDescribedOnTheRootAndInheritedEverywhere() {
        CommandLine root = GeneratedDocs.model();
        List<String> inherited = root.getCommandSpec().options().stream()
                .filter(o -> o.scopeType() == CommandLine.ScopeType.INHERIT).map(OptionSpec::longestName).toList();
        assertThat(inherited).contains("--output", "--bpffs", "--state-dir", "--lab", "--stacktrace");
        for (CommandLine cl : visibleCommands()) {
            List<String> names = cl.getCommandSpec().options().stream().map(OptionSpec::longestName).toList();
            assertThat(names).as(cl.getCommandSpec().qualifiedName()).containsAll(inherited);
        }
    }

    /** The example lines of a command's help that run ambientctl. */
    static List<String> examples(CommandSpec spec) {
        return Arrays.stream(spec.usageMessage().footer()).filter(l -> l.strip().matches("(\\./)?ambientctl( .*)?"))
                .toList();
    }

    /** The arguments of an example line, or null when it needs a shell to mean anything. */
    static String[] commandWords(String example) {
        String line = example.strip().replaceFirst("\\s+#.*$", "");
        if (line.contains("$(") || line.contains("<(") || line.contains(">") || line.contains("|")) {
            return null;
        }
        String[] words = line.split("\\s+");
        return Arrays.copyOfRange(words, 1, words.length);
    }

}
