import type { Spec as VegaSpec } from 'vega';
import { compile } from 'vega-lite';
import { collectingLogger } from './collectingLogger.js';
import type { PlotSpec } from './plots/common.js';

export interface CompiledSpec {
  vega: VegaSpec;
  /** What Vega-Lite complained about while compiling (a dropped channel, an impossible scale, ...). */
  warnings: string[];
}

/**
 * Vega-Lite → Vega, collecting the compiler's warnings instead of letting it print them: the
 * library never writes to the terminal, and a warning usually means a plot lost something.
 */
export function compileSpec(spec: PlotSpec): CompiledSpec {
  const warnings: string[] = [];
  const logger = collectingLogger(warnings, 'Vega-Lite', true);
  const { spec: vega } = compile(spec, { logger: logger as never });
  return { vega, warnings };
}
