package dev.tidemark.peers;

import java.util.HashMap;
import java.util.Map;

/** Command-line flags: --name value, or --name alone for "true". */
final class Args {
    private Args() {}

    static Map<String, String> parse(String[] argv, String... required) {
        Map<String, String> m = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--")) {
                throw new IllegalArgumentException("unexpected argument " + argv[i] + " (want --name value)");
            }
            String name = argv[i].substring(2);
            if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
                m.put(name, argv[++i]);
            } else {
                m.put(name, "true");
            }
        }
        for (String r : required) {
            if (!m.containsKey(r)) {
                throw new IllegalArgumentException("missing --" + r);
            }
        }
        return m;
    }
}
