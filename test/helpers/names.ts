/*
 * Names for display names and room names (src/chat/names.ts), written with
 * escapes so that every invisible character can be seen here.
 */

/** Must be accepted, and stored as their NFC form. */
export const FRIENDLY_NAMES: Record<string, string> = {
  ascii: 'Alice Smith',
  'accented Latin, NFD': 'E\u0301lodie Mu\u0308ller',
  'accented Latin, NFC': '\u00C9lodie M\u00FCller',
  Chinese: '\u5F20\u4F1F',
  Japanese: '\u5C71\u7530\u592A\u90CE \u3084\u307E\u3060',
  Korean: '\uAE40\uBBFC\uC218',
  Arabic: '\u0645\u062D\u0645\u062F \u0639\u0644\u064A',
  Hebrew: '\u05D3\u05D5\u05D3 \u05DC\u05D5\u05D9',
  'Persian with ZWNJ': '\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645',
  'Hindi, virama + ZWJ': '\u0915\u094D\u200D\u0937',
  'Hindi, virama + ZWNJ': '\u0915\u094D\u200C\u0937',
  'Malayalam chillu, virama + ZWJ': '\u0D05\u0D35\u0D28\u0D4D\u200D',
  'Sinhala, al-lakuna + ZWJ': '\u0DC1\u0DCA\u200D\u0DBB\u0DD3',
  Thai: '\u0E2A\u0E21\u0E0A\u0E32\u0E22',
  'emoji ZWJ sequence': 'Dev \u{1F469}\u200D\u{1F4BB}',
  'family ZWJ sequence': '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}',
  'rainbow flag, VS16 + ZWJ': '\u{1F3F3}\uFE0F\u200D\u{1F308}',
  'skin tone + ZWJ + VS16': '\u{1F3C3}\u{1F3FD}\u200D\u2640\uFE0F',
  'skin tone': '\u{1F44D}\u{1F3FD}',
  'heart, VS16': 'I \u2764\uFE0F tea',
  keycap: '\u0031\uFE0F\u20E3 Team',
  'country flag': '\u{1F1EB}\u{1F1F7}',
  'subdivision flag (Scotland)': '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}',
  'inner spaces': 'Mary  Jane Doe',
};

/** Must be refused with 400 bad_request, storing nothing. */
export const HOSTILE_NAMES: Record<string, string> = {
  'RLO override': 'evil\u202Egnp.exe',
  'LRO override': 'a\u202Db',
  'LRE embedding': 'a\u202Ab',
  'RLE embedding': 'a\u202Bb',
  'PDF pop': 'a\u202Cb',
  'LRI isolate': 'a\u2066b',
  'RLI isolate': 'a\u2067b',
  'FSI isolate': 'a\u2068b',
  'PDI pop': 'a\u2069b',
  'LRM mark': 'a\u200Eb',
  'RLM mark': 'a\u200Fb',
  'Arabic letter mark': '\u0645\u061C\u0645',
  'zero-width space': 'ad\u200Bmin',
  'ZWJ in Latin': 'ad\u200Dmin',
  'ZWNJ in Latin': 'ad\u200Cmin',
  'ZWNJ in Greek': '\u03B1\u200C\u03B2',
  'ZWJ in Cyrillic': '\u0430\u200D\u0431',
  'word joiner': 'ad\u2060min',
  NUL: 'a\u0000b',
  BEL: 'a\u0007b',
  ESC: '\u001b[31mred',
  DEL: 'a\u007fb',
  NEL: 'a\u0085b',
  'line separator': 'a\u2028b',
  'paragraph separator': 'a\u2029b',
  'soft hyphen': 'ad\u00ADmin',
  'BOM / ZWNBSP inside': 'ad\uFEFFmin',
  'Hangul filler alone': '\u3164',
  'tag letters without a flag': 'abc\u{E0061}\u{E0062}',
  'flag tags without the cancel tag': '\u{1F3F4}\u{E0067}\u{E0062}',
  'only invisible characters': '\u200B\u200C\u200D',
  'variation selector alone': '\uFE0F',
  unassigned: 'a\u0378b',
  'lone surrogate': 'a\uD800b',
};

const pick = (names: Record<string, string>, keys: string[]): Array<[string, string]> => keys.map((k) => [k, names[k]!]);

/**
 * For the HTTP doors (register, PATCH /api/me, /settings, POST /api/rooms): one
 * of each kind, to show that each door applies the rule and stores its form;
 * the unit test goes through both whole lists. All survive a urlencoded form.
 */
export const HOSTILE_SAMPLE = pick(HOSTILE_NAMES, [
  'RLO override',
  'RLI isolate',
  'RLM mark',
  'zero-width space',
  'ZWNJ in Latin',
  'ESC',
  'line separator',
  'soft hyphen',
  'Hangul filler alone',
  'only invisible characters',
]);
export const FRIENDLY_SAMPLE = pick(FRIENDLY_NAMES, [
  'accented Latin, NFD',
  'Persian with ZWNJ',
  'Hindi, virama + ZWJ',
  'family ZWJ sequence',
  'subdivision flag (Scotland)',
]);
