// Renders EC2 Query API responses. EC2 lists are wrapped `<fooSet><item>…</item></fooSet>`; the
// SDK's parser relies on exactly that shape and on the root element carrying the EC2 namespace.
export type XmlValue = string | number | boolean | Date | null | undefined | XmlValue[] | XmlObject;
export interface XmlObject {
  [name: string]: XmlValue;
}

export const EC2_NAMESPACE = "http://ec2.amazonaws.com/doc/2016-11-15/";

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function element(name: string, value: XmlValue): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) {
    const items = value.map((v) => element("item", v)).join("");
    return items ? `<${name}>${items}</${name}>` : `<${name}/>`;
  }
  if (value instanceof Date) return `<${name}>${value.toISOString()}</${name}>`;
  if (typeof value === "object") return `<${name}>${children(value)}</${name}>`;
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

function children(obj: XmlObject): string {
  return Object.entries(obj)
    .map(([k, v]) => element(k, v))
    .join("");
}

/** `<{Action}Response xmlns=…><requestId>…</requestId>…</{Action}Response>` */
export function actionResponse(action: string, requestId: string, body: XmlObject): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${EC2_NAMESPACE}">${children({ requestId, ...body })}</${action}Response>`;
}

/** EC2's error envelope (note: `RequestID`, capitalised differently from successful responses). */
export function errorResponse(code: string, message: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
}
