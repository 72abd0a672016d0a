/**
 * The I/O half of the InternVL model in one import: checkpoints
 * (safetensors), the tokenizer, prompt formats and image preprocessing.
 */
export { Checkpoint, openCheckpoint, openSafetensors, SafetensorsError, SafetensorsFile, writeSafetensors, type ReadOptions, type SafetensorsDType, type TensorInfo, type TensorSource, type WriteOptions } from "../../io/safetensors.js";
export { chatMLTemplate, END_OF_TEXT, INTERNVL_SPECIAL_TOKENS, loadTokenizer, tokenizerFromJSON, TokenizerError, UNK, writeWordLevelTokenizer, type InternVLTokenizer, type SpecialIds, type WordLevelOptions } from "./tokenizer.js";
export { buildPrompt, encodeChat, encodePrompt, getTemplate, IM_END, IM_START, IMAGE_PLACEHOLDER, IMG_CONTEXT, IMG_END, IMG_START, PromptError, renderChat, TEMPLATES, type ChatOptions, type ConversationTemplate, type EncodedChat, type PromptOptions, type TemplateName, type Turn } from "./conversation.js";
export { blankImage, candidateGrids, cropImage, decodeImage, IMAGENET_MEAN, IMAGENET_STD, ImageError, normalizeTiles, preprocessImages, resizeImage, saveImage, selectGrid, solidImage, tileImage, type Grid, type PreprocessedImages, type RGBImage, type TilingOptions } from "./image.js";
