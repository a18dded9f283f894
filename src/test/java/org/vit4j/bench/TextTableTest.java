package org.vit4j.bench;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TextTableTest {

    @Test
    void alignsTextLeftAndNumbersRight() {
        String t = new TextTable("op", "us", "note").row("gelu.forward", "12.50", "x").row("ln", "1234", "").render();
        assertEquals("""
                op            us     note
                ------------  -----  ----
                gelu.forward  12.50  x
                ln             1234
                """, t);
    }

    @Test
    void numericCells() {
        assertTrue(TextTable.numeric("12"));
        assertTrue(TextTable.numeric("-1.5"));
        assertTrue(TextTable.numeric(".5"));
        assertTrue(TextTable.numeric("98.2%"));
        assertFalse(TextTable.numeric("-"));
        assertFalse(TextTable.numeric("n/a"));
        assertFalse(TextTable.numeric(""));
    }

    @Test
    void rowsMustFitTheHeader() {
        assertThrows(IllegalArgumentException.class, () -> new TextTable("a", "b").row("only one"));
    }
}
