package io.ambientctl.cli;

import picocli.AutoComplete;
import picocli.CommandLine;

/**
 * The completion scripts, generated from the command model (picocli's AutoComplete), so every
 * command, option and mode a build has is in them. zsh runs the same script through bashcompinit.
 */
final class Completions {
    enum Shell { bash, zsh }

    static final String NAME = "ambientctl";

    private Completions() {
    }

    static String script(Shell shell, CommandLine root) {
        // --netns completes the namespaces that exist when TAB is pressed, not those of the build machine
        String bash = NetnsNames.generating(() -> AutoComplete.bash(NAME, root))
                .replace("(\"" + NetnsNames.PLACEHOLDER + "\")", "($(ls -1 " + NetnsNames.DIR + " 2>/dev/null))");
        if (bash.contains(NetnsNames.PLACEHOLDER)) {
            throw new IllegalStateException("picocli's completion script changed shape: " + NetnsNames.PLACEHOLDER
                    + " is left in it; adapt Completions.script");
        }
        if (shell == Shell.bash) {
            return bash;
        }
        // As a file in $fpath (e.g. /usr/share/zsh/vendor-completions/_ambientctl) compinit autoloads this as
        // the function _ambientctl on the first TAB: the body registers picocli's function through
        // bashcompinit, then completes that first TAB too. Sourced ('source <(ambientctl completion zsh)'),
        // it only registers.
        return "#compdef " + NAME + "\n"
                + "# zsh completion for " + NAME + ": picocli's bash completion through bashcompinit.\n"
                + "autoload -U +X bashcompinit && bashcompinit\n"
                + "# bash's compopt has no zsh counterpart; picocli's alias for it would come too late here, when this\n"
                + "# file is the body of an autoloaded function\n"
                + "(( $+functions[compopt] )) || compopt() { return 0; }\n"
                + bash
                + "\nif [[ \"${funcstack[1]}\" == _" + NAME + " ]]; then\n"
                + "  _bash_complete -F _complete_" + NAME + "\n"
                + "fi\n";
    }
}
