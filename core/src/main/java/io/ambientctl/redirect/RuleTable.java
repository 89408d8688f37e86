package io.ambientctl.redirect;

import java.util.List;
import java.util.Map;

/**
 * A netfilter table of a mode in one namespace, decoded for people: its sets' elements, its chain's name, hook and
 * priority, and its rules as the tool that lists them writes them. {@code role}: node or ztunnel.
 */
public record RuleTable(String netns, String role, String table, Map<String, List<String>> sets, String chain,
                        String hook, Integer priority, List<String> rules) {
}
