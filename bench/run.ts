import { benchKernels } from './kernels.js';

await benchKernels();
