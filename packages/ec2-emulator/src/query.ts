// EC2 Query parameters arrive flat (`TagSpecification.1.Tag.2.Key=…`); this turns them into a
// tree and offers typed accessors, so handlers read `p.list("TagSpecification")` instead of
// string-matching keys. Indexed segments become lists ordered by their index.
import { Ec2Error, invalidValue, missingParameter } from "./errors.ts";

interface Node {
  value?: string;
  children: Map<string, Node>;
}

export class Params {
  private constructor(private readonly node: Node) {}

  static parse(body: string): Params {
    const root: Node = { children: new Map() };
    for (const [key, value] of new URLSearchParams(body)) {
      let node = root;
      for (const segment of key.split(".")) {
        let next = node.children.get(segment);
        if (!next) {
          next = { children: new Map() };
          node.children.set(segment, next);
        }
        node = next;
      }
      node.value = value;
    }
    return new Params(root);
  }

  private find(path: string): Node | undefined {
    let node: Node | undefined = this.node;
    for (const segment of path.split(".")) node = node?.children.get(segment);
    return node;
  }

  has(path: string): boolean {
    return this.find(path) !== undefined;
  }

  str(path: string): string | undefined {
    return this.find(path)?.value;
  }

  required(path: string): string {
    const v = this.str(path);
    if (v === undefined || v === "") throw missingParameter(path);
    return v;
  }

  int(path: string): number | undefined {
    const v = this.str(path);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n)) throw invalidValue(path, v);
    return n;
  }

  bool(path: string): boolean | undefined {
    const v = this.str(path);
    if (v === undefined) return undefined;
    if (v === "true") return true;
    if (v === "false") return false;
    throw invalidValue(path, v);
  }

  /** `Name.1…Name.N` as sub-parameter sets, in index order. */
  list(path: string): Params[] {
    const node = this.find(path);
    if (!node) return [];
    const entries = [...node.children.entries()].map(([k, child]) => {
      const index = Number(k);
      if (!Number.isInteger(index) || index < 1) throw new Ec2Error("InvalidParameter", `Invalid list index in ${path}.${k}`);
      return [index, child] as const;
    });
    return entries.sort((a, b) => a[0] - b[0]).map(([, child]) => new Params(child));
  }

  /** `Name.1…Name.N` as plain strings. */
  strings(path: string): string[] {
    return this.list(path).flatMap((p) => (p.node.value === undefined ? [] : [p.node.value]));
  }
}
