package org.vit4j.io;

import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * One-line descriptions of I/O failures. The JDK's file-system exceptions often carry only a
 * path as their message ({@code NoSuchFileException: out/m.jsonl}); this says what went wrong too.
 */
public final class IoErrors {
    private IoErrors() {
    }

    /** {@code e}'s message on one line, with the reason added where the JDK gives only the file. */
    public static String describe(Throwable e) {
        // Some libraries (Jackson) append the input's location on further lines.
        return oneLine(message(e));
    }

    private static String oneLine(String s) {
        return escapeControls(s.replaceAll("\\s*\\R\\s*", " ").trim());
    }

    /**
     * A name taken from a file, for a message: in single quotes, control characters escaped and
     * at most 200 characters (a tensor name is untrusted, and may be long or hold a newline).
     */
    public static String quote(String name) {
        String s = name.length() > 200 ? name.substring(0, 200) + "...(" + name.length() + " characters)" : name;
        return "'" + escapeControls(s) + "'";
    }

    private static String escapeControls(String s) {
        StringBuilder b = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isISOControl(c) || c == '\u2028' || c == '\u2029') {
                if (b == null) {
                    b = new StringBuilder(s.substring(0, i));
                }
                b.append(String.format("\\u%04x", (int) c));
            } else if (b != null) {
                b.append(c);
            }
        }
        return b == null ? s : b.toString();
    }

    private static String message(Throwable e) {
        if (e instanceof FileSystemException fs) {
            String reason = fs.getReason() != null ? fs.getReason()
                    : fs instanceof NoSuchFileException ? "no such file or directory"
                    : fs instanceof AccessDeniedException ? "permission denied"
                    : fs instanceof NotDirectoryException ? "not a directory"
                    : fs instanceof FileAlreadyExistsException ? "already exists (and is not a directory)"
                    : fs instanceof DirectoryNotEmptyException ? "a directory that is not empty"
                    : fs.getClass().getSimpleName();
            String file = fs.getFile() == null ? "" : fs.getFile();
            return file + (fs.getOtherFile() == null ? "" : " -> " + fs.getOtherFile()) + ": " + reason;
        }
        String msg = e.getMessage();
        return msg == null || msg.isBlank() ? e.getClass().getSimpleName() : msg;
    }
}
