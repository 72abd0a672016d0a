/**
 * The default vocabulary of the tiny model: enough English for captions and
 * questions about simple scenes (colours, shapes, positions, counts), in
 * both cases where a word starts a sentence. `init-model --words` replaces it.
 */
import { INTERNVL_SPECIAL_TOKENS } from "./tokenizer.js";
import { IMG_CONTEXT, IM_END } from "./conversation.js";

const lower = `
a an the this that these those it its is are was were be been there here what which who where when how why
do does did can could will would should may might must not no yes and or but if then so of in on at to from
with without by for about into over under above below between behind near next left right top bottom middle
center corner side up down front back inside outside one two three four five six seven eight nine ten zero
many few some any all none both each every more most less least only just also very much than same different
other another color colour colors shape shapes object objects thing things image picture photo scene background
foreground circle circles square squares triangle triangles rectangle rectangles star stars line lines dot dots
ring rings box boxes red blue green yellow orange purple pink brown black white gray grey cyan magenta
big small large little tiny huge long short tall wide narrow thin thick bright dark light round flat empty full
see seen show shows shown look looks describe count find name answer question tell say has have had contains
contain made make i you we they he she me us them my your our their his her word words letter number numbers
first second third last single pair group row column grid part half whole
`;

const capitalised =
  "A An The This That There What Which Who Where When How Why Do Does Is Are Can Yes No It Describe Count Name Tell Find Look".split(" ");

const punctuation = [".", ",", "?", "!", ":", ";", "'", "-", "(", ")"];

/** The words `init-model` writes for the tiny preset, in id order (after <unk> = 0). */
export const TINY_WORDS: readonly string[] = [...new Set([...lower.trim().split(/\s+/), ...capitalised, ...punctuation])];

/**
 * Vocabulary size and special ids of a word-level tokenizer written from
 * `words` by writeWordLevelTokenizer: <unk>, the words, "\n", then
 * InternVL's special tokens.
 */
export function wordLevelIds(words: readonly string[]): { vocabSize: number; imageTokenId: number; eosTokenId: number } {
  const first = 1 + new Set(words).size + 1;
  return {
    vocabSize: first + INTERNVL_SPECIAL_TOKENS.length,
    imageTokenId: first + INTERNVL_SPECIAL_TOKENS.indexOf(IMG_CONTEXT as (typeof INTERNVL_SPECIAL_TOKENS)[number]),
    eosTokenId: first + INTERNVL_SPECIAL_TOKENS.indexOf(IM_END as (typeof INTERNVL_SPECIAL_TOKENS)[number]),
  };
}
