/** Minimal XML writing for audit messages: escaping and attribute lists, no pretty-printing (one line per record). */
export function escapeXml(value: string): string {
  return value.replace(/[<>&"'\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? '');
}

export function element(name: string, attrs: Record<string, string | number | boolean | undefined>, children = ''): string {
  const list = Object.entries(attrs).filter(([, v]) => v !== undefined).map(([k, v]) => ` ${k}="${escapeXml(String(v))}"`).join('');
  return children ? `<${name}${list}>${children}</${name}>` : `<${name}${list}/>`;
}
