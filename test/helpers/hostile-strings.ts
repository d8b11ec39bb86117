/** Values that break naive InfluxDB line protocol (separators, quotes, escapes, line breaks) and non-ASCII text. */
export const LINE_PROTOCOL_HOSTILE: readonly string[] = [
  'comma,here',
  'space here',
  'equals=sign',
  'double "quotes"',
  "single 'quotes'",
  'back\\slash',
  'trailing backslash\\',
  'new\nline',
  'carriage\r\nreturn',
  'tab\there',
  'ünïcödé ☃ 漢字 🚀',
];
