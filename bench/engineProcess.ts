/**
 * The engine figures in a process of their own (so that its peak memory is its own), printed as
 * one JSON line: what `npm run bench -- torch` runs beside each PyTorch run.
 */
import { benchEngine } from './engine.js';

const [figures] = await benchEngine({ quiet: true });
console.log(JSON.stringify(figures));
