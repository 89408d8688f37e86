package io.ambientctl.cli;

import java.util.concurrent.Callable;

import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

@Command(name = "completion", header = "Print the bash or zsh completion script", description = {
    "Print the completion script for bash or zsh: every command, option and mode of this build, "
            + "and the names of network namespaces under /var/run/netns for --netns. The packages install "
            + "the same scripts (/usr/share/bash-completion/completions/ambientctl, "
            + "/usr/share/zsh/vendor-completions/_ambientctl)."},
        footerHeading = "%nExamples:%n", footer = {
            "  source <(ambientctl completion bash)                 # this bash session",
            "  ambientctl completion bash > ~/.local/share/bash-completion/completions/ambientctl",
            "  source <(ambientctl completion zsh)                  # zsh (uses bashcompinit)"})
public class CompletionCommand extends BaseCommand implements Callable<Integer> {
    @Parameters(paramLabel = "SHELL", description = "The shell: ${COMPLETION-CANDIDATES}.")
    Completions.Shell shell;

    @Override
    public Integer call() {
        out().print(Completions.script(shell, spec.root().commandLine()));
        out().flush();
        return ExitCode.OK;
    }
}
