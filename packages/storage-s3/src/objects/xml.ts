/** Just enough XML for S3's responses: flat elements with text, found by name. */

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** Text content with XML's entities and character references resolved. */
export function xmlText(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(Number.parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(Number(ref.slice(1)));
    return ENTITIES[ref] ?? whole;
  });
}

/** Escapes text for an XML element. */
export function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The raw inner XML of every `<name>` element (not nested in another `<name>`). */
export function xmlElements(xml: string, name: string): string[] {
  const found: string[] = [];
  const pattern = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g');
  for (const match of xml.matchAll(pattern)) found.push(match[1]!);
  return found;
}

/** The text of the first `<name>` element, or `undefined`. */
export function xmlValue(xml: string, name: string): string | undefined {
  const inner = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml)?.[1];
  return inner === undefined ? undefined : xmlText(inner);
}

/** The S3 error code of an error document (`<Error><Code>…`), or `undefined` when there is none. */
export function s3ErrorCode(xml: string): string | undefined {
  const error = xmlElements(xml, 'Error')[0];
  return error === undefined ? undefined : (xmlValue(error, 'Code') ?? '');
}
