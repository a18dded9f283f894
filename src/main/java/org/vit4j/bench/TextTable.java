package org.vit4j.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * A plain-text table with aligned columns: text left-aligned, numbers (cells that start with a
 * digit, a sign or a dot) right-aligned, two spaces between columns, a dashed rule under the
 * header. Readable in a terminal and in a Markdown code block.
 */
public final class TextTable {
    private final List<String> header;
    private final List<List<String>> rows = new ArrayList<>();

    public TextTable(String... header) {
        this.header = List.of(header);
    }

    public TextTable row(Object... cells) {
        if (cells.length != header.size()) {
            throw new IllegalArgumentException("row of " + cells.length + " cells in a table of " + header.size()
                    + " columns");
        }
        List<String> r = new ArrayList<>();
        for (Object c : cells) {
            r.add(c == null ? "" : c.toString());
        }
        rows.add(r);
        return this;
    }

    public int size() {
        return rows.size();
    }

    public String render() {
        int[] width = new int[header.size()];
        for (int i = 0; i < width.length; i++) {
            width[i] = header.get(i).length();
            for (List<String> r : rows) {
                width[i] = Math.max(width[i], r.get(i).length());
            }
        }
        StringBuilder out = new StringBuilder();
        line(out, header, width, false);
        for (int i = 0; i < width.length; i++) {
            out.append(i == 0 ? "" : "  ").append("-".repeat(width[i]));
        }
        out.append('\n');
        for (List<String> r : rows) {
            line(out, r, width, true);
        }
        return out.toString();
    }

    private static void line(StringBuilder out, List<String> cells, int[] width, boolean alignNumbers) {
        StringBuilder l = new StringBuilder();
        for (int i = 0; i < width.length; i++) {
            String c = cells.get(i);
            String pad = " ".repeat(width[i] - c.length());
            l.append(i == 0 ? "" : "  ").append(alignNumbers && numeric(c) ? pad + c : c + pad);
        }
        out.append(l.toString().stripTrailing()).append('\n');
    }

    static boolean numeric(String cell) {
        if (cell.isEmpty()) {
            return false;
        }
        char c = cell.charAt(0);
        return Character.isDigit(c) || ((c == '-' || c == '+' || c == '.') && cell.length() > 1
                && (Character.isDigit(cell.charAt(1)) || cell.charAt(1) == '.'));
    }
}
