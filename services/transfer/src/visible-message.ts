/**
 * The seed's two transfer memos: recipient_visible_message (the recipient's statement and
 * notification) and self_visible_message (the sender's statement). Both statements show them as
 * given, so a memo must be something a statement line can show as it is.
 */

/** Characters per memo (code points: an emoji or a Hangul syllable counts as one). */
export const MAX_VISIBLE_MESSAGE_CHARS = 50;

/**
 * What a memo cannot hold: control characters (line breaks, tabs), format characters (bidi
 * overrides that make a line read other than it is, zero-width characters), line and paragraph
 * separators, surrogates and unassigned code points.
 */
const UNSHOWABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Zl}\p{Zp}]/u;

/** The memo trimmed, or undefined when it is too long or holds a character it cannot. */
export function visibleMessage(value: string): string | undefined {
  const trimmed = value.trim();
  if (Array.from(trimmed).length > MAX_VISIBLE_MESSAGE_CHARS || UNSHOWABLE.test(trimmed)) return undefined;
  return trimmed;
}
