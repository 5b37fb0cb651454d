import Testing
import CaptionData

@Suite struct TokenizerTests {
    @Test func lowercasesAndDropsPunctuation() {
        #expect(tokenize("A Dog, running (fast)!") == ["a", "dog", "running", "fast"])
        #expect(tokenize("  Two  dogs .  ") == ["two", "dogs"])
        #expect(tokenize("") == [])
        #expect(tokenize("... !!! ,") == [])
    }

    @Test func apostropheInsideAWordStays() {
        #expect(tokenize("Don't touch the dog's bowl") == ["don't", "touch", "the", "dog's", "bowl"])
        #expect(tokenize("the dog’s bowl") == ["the", "dog's", "bowl"])
    }

    @Test func apostrophesAtWordEdgesAreDropped() {
        #expect(tokenize("'quoted' the dogs' toys") == ["quoted", "the", "dogs", "toys"])
        #expect(tokenize("rock''n roll") == ["rock", "n", "roll"])
        #expect(tokenize("' '") == [])
    }

    @Test func hyphensAndOtherPunctuationSplitWords() {
        #expect(tokenize("black-and-white photo") == ["black", "and", "white", "photo"])
        #expect(tokenize("a/b_c.d") == ["a", "b", "c", "d"])
    }

    @Test func digitsAndUnicodeLettersAreWordCharacters() {
        #expect(tokenize("3 dogs on route66") == ["3", "dogs", "on", "route66"])
        #expect(tokenize("Ein Mädchen läuft, CAFÉ") == ["ein", "mädchen", "läuft", "café"])
        #expect(tokenize("Собака бежит") == ["собака", "бежит"])
        // A decomposed accent (e + U+0301) stays inside its word.
        #expect(tokenize("CAFE\u{301} ouvert") == ["cafe\u{301}", "ouvert"])
        #expect(tokenize("½ Ⅻ") == ["½", "ⅻ"])
    }
}
