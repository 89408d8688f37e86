package io.ambientctl.cli;

import java.io.PrintWriter;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;

import io.ambientctl.util.Json;

/** Renders a command's result: one JSON or YAML document, or the command's table for people. */
final class Output {
    private Output() {
    }

    static void render(GlobalOptions g, PrintWriter out, Object document, Runnable table) {
        try {
            switch (g.output()) {
                case json -> out.println(Json.MAPPER.writeValueAsString(document));
                case yaml -> out.print(Yaml.MAPPER.writeValueAsString(document));
                default -> table.run();
            }
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot render output: " + e.getOriginalMessage(), e);
        }
        out.flush();
    }

    /** Loaded only for -o yaml (jackson-dataformat-yaml and snakeyaml are no start-up cost otherwise). */
    private static final class Yaml {
        static final ObjectMapper MAPPER = new ObjectMapper(new YAMLFactory()
                .disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER).enable(YAMLGenerator.Feature.MINIMIZE_QUOTES))
                .configure(SerializationFeature.INDENT_OUTPUT, true);
    }
}
