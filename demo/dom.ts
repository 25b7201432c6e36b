// The demo page's one DOM helper: its elements by id, failing loudly when index.html lacks one.

export function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}
