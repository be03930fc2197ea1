/**
 * Kubernetes field paths (`spec.volumes[0].mountPath`), the notation the API server's errors use,
 * built step by step while walking an object.
 */

/** parent.name, or just name at the root. */
export function childPath(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

/** parent[index], for list items. */
export function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** parent[key], for map entries as CEL rule errors name them. */
export function keyPath(parent: string, key: string): string {
  return `${parent}[${key}]`;
}

/**
 * The field path for a JSON Pointer (`/spec/volumes/0/mountPath`) into `root`: list indexes
 * become `[0]`, everything else `.name`, like the API server's OpenAPI validation.
 */
export function pointerToPath(pointer: string, root: unknown): string {
  let path = '';
  let node: unknown = root;
  for (const token of pointer.split('/').slice(1)) {
    const key = token.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node)) {
      path = indexPath(path, Number(key));
      node = node[Number(key)];
    } else {
      path = childPath(path, key);
      node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return path;
}

/**
 * Append a CEL rule's `fieldPath` (`.command`, `.a.b`, `['key']`, `[0]`) to the rule's location;
 * a quoted key is taken as a map key (`labels[zone]`), as the API server does for maps.
 */
export function appendFieldPath(base: string, fieldPath: string): string {
  let path = base;
  const step = /\.([A-Za-z_$][\w$-]*)|\[\s*'((?:[^'\\]|\\.)*)'\s*\]|\[\s*"((?:[^"\\]|\\.)*)"\s*\]|\[(\d+)\]/y;
  let match: RegExpExecArray | null;
  while (step.lastIndex < fieldPath.length && (match = step.exec(fieldPath))) {
    const [, name, single, double, index] = match;
    if (name !== undefined) path = childPath(path, name);
    else if (index !== undefined) path = indexPath(path, Number(index));
    else path = keyPath(path, single ?? double ?? '');
  }
  return path;
}
