import { z } from 'zod';

/*
 * The one rule for names people see: display names and room names. A name is
 * shown to others as who someone is or where they are, so it must not be able
 * to look like another name or reorder the text around it: no control
 * characters, no bidirectional controls (`evil\u202Egnp.exe` shows as
 * "evilexe.png"), and no invisible characters (`ad\u200Bmin` shows as "admin").
 * Every script and emoji must stay usable, though, and some of them need
 * characters that are invisible on their own: those are kept exactly where
 * they do a visible job (see `NEEDED_IN_CONTEXT`) and refused anywhere else.
 *
 * The checks run on what is stored: trimmed and NFC-normalised, so that `e`
 * + U+0301 and `é` are one name, and the length limit counts the stored form.
 * Character properties come from the runtime's Unicode data (the same for the
 * regexes and for `normalize`), so a code point newer than it is refused as
 * unassigned until Node knows it.
 */

const MAX_NAME_LENGTH = 64;

const ZWNJ = '\u200C';
const ZWJ = '\u200D';
const BLACK_FLAG = '\u{1F3F4}';
const CANCEL_TAG = '\u{E007F}';

/** Refused wherever they are, in this order (the first that applies is reported). */
const FORBIDDEN: Array<[RegExp, string]> = [
  // Lone surrogates have no UTF-8 form (Redis would store U+FFFD); unassigned code points have no meaning yet.
  [/\p{Cs}/u, 'unpaired surrogates'],
  [/\p{Cn}/u, 'unassigned characters'],
  // U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069.
  [/\p{Bidi_Control}/u, 'bidirectional control characters'],
  [/[\p{Cc}\p{Zl}\p{Zp}]/u, 'invisible or control characters'],
];

/** Invisible on their own (format characters, zero-width ones, fillers, variation selectors, tags): refused unless needed. */
const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u;

const PICTOGRAPH = /^\p{Extended_Pictographic}$/u;
/** What may come between an emoji and the ZWJ after it: a skin tone, or VS16 (🏳️‍🌈). */
const EMOJI_TRAILER = /^[\p{Emoji_Modifier}\uFE0F]$/u;
/** A character that shows by itself, which a variation selector may pick a glyph of. */
const VISIBLE_BASE = /^[\p{L}\p{N}\p{P}\p{S}]$/u;
const VARIATION_SELECTOR = /^\p{Variation_Selector}$/u;
const TAG_SPEC = /^[\u{E0020}-\u{E007E}]$/u;
const MARK = /^\p{M}$/u;
/** Letters of the scripts whose letters join cursively, where ZWNJ breaks a join (Persian "می‌خواهم"). */
const JOINING_LETTER =
  /^(?=\p{L})[\p{sc=Arabic}\p{sc=Syriac}\p{sc=Mandaic}\p{sc=Nko}\p{sc=Mongolian}\p{sc=Phags_Pa}\p{sc=Manichaean}\p{sc=Psalter_Pahlavi}\p{sc=Hanifi_Rohingya}\p{sc=Sogdian}\p{sc=Old_Uyghur}\p{sc=Chorasmian}\p{sc=Adlam}]$/u;

type Context = (cps: readonly string[], i: number) => boolean;

/** ZWJ inside an emoji ZWJ sequence: 👩‍💻, 👨‍👩‍👧, 🏳️‍🌈, 🏃🏽‍♀️. */
const joinsEmoji: Context = (cps, i) => {
  if (cps[i] !== ZWJ || !PICTOGRAPH.test(cps[i + 1] ?? '')) return false;
  const before = EMOJI_TRAILER.test(cps[i - 1] ?? '') ? i - 2 : i - 1;
  return PICTOGRAPH.test(cps[before] ?? '');
};

/** A variation selector right after a visible character: ❤️, keycaps 1️⃣, ideographic variants, Mongolian forms. */
const selectsVariant: Context = (cps, i) => VARIATION_SELECTOR.test(cps[i]!) && VISIBLE_BASE.test(cps[i - 1] ?? '');

/** A tag of a subdivision flag: 🏴 + tag letters + CANCEL TAG (🏴󠁧󠁢󠁳󠁣󠁴󠁿). Tags anywhere else hide text. */
const inFlagTagSequence: Context = (cps, i) => {
  if (!TAG_SPEC.test(cps[i]!) && cps[i] !== CANCEL_TAG) return false;
  let start = i;
  while (TAG_SPEC.test(cps[start - 1] ?? '')) start--;
  let end = i;
  while (TAG_SPEC.test(cps[end] ?? '')) end++;
  // cps[start..end) are the tag letters around i, or before it when i is the cancel tag (then end === i).
  return cps[start - 1] === BLACK_FLAG && end > start && cps[end] === CANCEL_TAG;
};

const SHEVA = '\u05B0'; // HEBREW POINT SHEVA, canonical combining class 10
const VOICED_MARK = '\u3099'; // COMBINING KATAKANA-HIRAGANA VOICED SOUND MARK, class 8

/**
 * Canonical_Combining_Class=Virama (9), which regexes cannot name. Canonical
 * ordering sorts combining marks by that class, so a class-9 mark is one that
 * NFD moves before a class-10 mark and after a class-8 one (the two probes
 * themselves pass that test trivially, hence excluded).
 */
function isVirama(c: string): boolean {
  if (!MARK.test(c) || c === SHEVA || c === VOICED_MARK) return false;
  return `${SHEVA}${c}`.normalize('NFD') === `${c}${SHEVA}` && `${c}${VOICED_MARK}`.normalize('NFD') === `${VOICED_MARK}${c}`;
}

/** ZWJ/ZWNJ after a virama choose an Indic conjunct's form (क्‍ष, क्‌ष, Malayalam chillu അവന്‍): RFC 5892 A.1/A.2. */
const shapesConjunct: Context = (cps, i) => (cps[i] === ZWJ || cps[i] === ZWNJ) && isVirama(cps[i - 1] ?? '');

/** ZWNJ between two letters of a joining script, marks allowed on either side: RFC 5892 A.1, by script. */
const breaksCursiveJoin: Context = (cps, i) => {
  if (cps[i] !== ZWNJ) return false;
  let before = i - 1;
  while (MARK.test(cps[before] ?? '')) before--;
  let after = i + 1;
  while (MARK.test(cps[after] ?? '')) after++;
  return JOINING_LETTER.test(cps[before] ?? '') && JOINING_LETTER.test(cps[after] ?? '');
};

/**
 * Where an invisible character does a visible job and so is kept. Anything
 * else invisible is refused, which is what refuses a joiner between Latin,
 * Greek or Cyrillic letters (`ad\u200Cmin`).
 */
const NEEDED_IN_CONTEXT: readonly Context[] = [joinsEmoji, selectsVariant, inFlagTagSequence, shapesConjunct, breaksCursiveJoin];

/** What is wrong with a (trimmed, normalised) name, as "may not contain ..." words, or undefined when nothing is. */
export function nameProblem(name: string): string | undefined {
  for (const [pattern, problem] of FORBIDDEN) if (pattern.test(name)) return problem;
  const cps = [...name];
  for (let i = 0; i < cps.length; i++) {
    if (INVISIBLE.test(cps[i]!) && !NEEDED_IN_CONTEXT.some((needed) => needed(cps, i))) return 'invisible or control characters';
  }
  return undefined;
}

/**
 * The schema of a name, e.g. `nameSchema('display name')`: trims, NFC-normalises
 * and answers the stored form; refuses (with a message naming `label`) what
 * `nameProblem` finds and lengths outside 1-64.
 */
export function nameSchema(label: string) {
  const length = `${label} must be 1-${MAX_NAME_LENGTH} characters`;
  return z
    .string()
    .transform((s) => s.trim().normalize('NFC'))
    .pipe(
      z
        .string()
        .min(1, length)
        .max(MAX_NAME_LENGTH, length)
        .superRefine((name, ctx) => {
          const problem = nameProblem(name);
          if (problem) ctx.addIssue({ code: 'custom', message: `${label} may not contain ${problem}` });
        }),
    );
}
