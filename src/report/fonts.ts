import { execFileSync } from 'node:child_process';

/** Sans-serif families that hold every glyph the plots use (α, β, λ, ×, ‖), best first. */
const PREFERRED = ['DejaVu Sans', 'Liberation Sans', 'Noto Sans', 'Arial', 'Helvetica', 'FreeSans'];

export interface FontFile {
  file: string;
  families: string[];
}

let catalog: FontFile[] | undefined;

/** The font files fontconfig knows on this machine; empty where fc-list is missing (Windows, macOS, bare containers). */
export function systemFonts(): FontFile[] {
  if (catalog) return catalog;
  try {
    const out = execFileSync('fc-list', ['--format', '%{file}|%{family}\\n'], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    catalog = out
      .split('\n')
      .map((line) => line.split('|'))
      .filter((parts) => parts.length === 2 && parts[0]!.length > 0)
      .map(([file, families]) => ({ file: file!, families: families!.split(',').map((f) => f.trim()).filter(Boolean) }));
  } catch {
    catalog = [];
  }
  return catalog;
}

export function systemFontFamilies(): string[] {
  return [...new Set(systemFonts().flatMap((f) => f.families))];
}

/** The family the PNGs' text is set in, or undefined when none could be found. */
export function sansSerifFamily(): string | undefined {
  const families = systemFontFamilies();
  const lower = new Map(families.map((f) => [f.toLowerCase(), f]));
  for (const f of PREFERRED) {
    const found = lower.get(f.toLowerCase());
    if (found) return found;
  }
  return families[0];
}

export interface ResvgFontOptions {
  loadSystemFonts: boolean;
  fontFiles?: string[];
  sansSerifFamily?: string;
  defaultFontFamily?: string;
}

let options: ResvgFontOptions | undefined;

/**
 * resvg's font options. resvg maps the generic 'sans-serif' to Arial, which most Linux machines
 * lack, so the text would vanish from the PNGs; it is pointed at a family that exists instead.
 * Only that family's files are loaded: scanning every system font costs about half a second per
 * image. Where fontconfig is missing, resvg scans the system fonts itself with its defaults.
 */
export function resvgFontOptions(): ResvgFontOptions {
  if (options) return options;
  const family = sansSerifFamily();
  const files = family ? systemFonts().filter((f) => f.families.includes(family)).map((f) => f.file) : [];
  options = family && files.length > 0
    ? { loadSystemFonts: false, fontFiles: files, sansSerifFamily: family, defaultFontFamily: family }
    : { loadSystemFonts: true };
  return options;
}
