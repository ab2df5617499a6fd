import { describe, expect, it } from 'vitest';
import { parseArch } from '../../src/api/modelArg.js';
import { OptionError } from '../../src/errors.js';
import { loadStateDict, stateDict } from '../../src/io/checkpoint.js';
import { encodeSafetensors, parseSafetensors } from '../../src/io/safetensors.js';
import { buildModel, MAX_PARAMETERS, parameterCount, resnet, validateDescription, type ModelDescription } from '../../src/nn/index.js';

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('the parameter count of a description', () => {
  it('equals the length of the flat vector the builder lays out', () => {
    const cases: ModelDescription[] = [
      { arch: 'resnet', depth: 8, width: 4, classes: 10, batchNorm: true, residual: true },
      { arch: 'resnet', depth: 14, width: 3, classes: 7, batchNorm: false, residual: false },
      { arch: 'resnet', depth: 20, width: 2, classes: 100, batchNorm: { stem: false, stages: [true, false, true] }, residual: true },
      { arch: 'resnet', depth: 26, width: 5, classes: 2, batchNorm: { stem: true, stages: [false, false, false] }, residual: false },
      { arch: 'mlp', sizes: [6, 8, 5, 3], activation: 'tanh' },
      { arch: 'mlp', sizes: [1, 1], activation: 'relu' },
    ];
    for (const d of cases) expect(parameterCount(d), JSON.stringify(d)).toBe(buildModel(d).size);
  });
});

describe('a model description from untrusted JSON', () => {
  const bad: [string, unknown, RegExp][] = [
    ['sizes as a string', { arch: 'mlp', sizes: 'abc' }, /sizes.*'abc'/],
    ['a size as a string', { arch: 'mlp', sizes: [784, '10'] }, /sizes.*\[784,"10"\]/],
    ['a fractional size', { arch: 'mlp', sizes: [3, 1.5] }, /sizes.*\[3,1\.5\]/],
    ['a single layer size', { arch: 'mlp', sizes: [10] }, /at least two/],
    ['an activation from the prototype', { arch: 'mlp', sizes: [2, 2], activation: 'toString' }, /activation 'toString'/],
    ['depth as a string', { arch: 'resnet', depth: '20' }, /depth .*'20'/],
    ['depth not 6n+2', { arch: 'resnet', depth: 21 }, /depth .*21/],
    ['width zero', { arch: 'resnet', depth: 8, width: 0 }, /width .*0/],
    ['one class', { arch: 'resnet', depth: 8, classes: 1 }, /classes .*1/],
    ['batchNorm stages too short', { arch: 'resnet', depth: 8, batchNorm: { stem: true, stages: [true] } }, /batchNorm .*\{"stem":true,"stages":\[true\]\}/],
    ['residual as a string', { arch: 'resnet', depth: 8, residual: 'yes' }, /residual .*'yes'/],
    ['a misspelt key', { arch: 'resnet', depth: 8, widht: 4 }, /unknown key 'widht'/],
    ['no arch', { sizes: [2, 2] }, /unknown architecture undefined/],
    ['an array', [1, 2], /must be a JSON object/],
  ];
  for (const [what, value, message] of bad) {
    it(`refuses ${what}, naming the field and its value`, () => {
      const err = thrown(() => validateDescription(value));
      expect(err).toBeInstanceOf(OptionError);
      expect(err.message).toMatch(message);
    });
  }

  it('fills in the defaults of resnet() for the fields it may omit', () => {
    expect(validateDescription({ arch: 'resnet', depth: 20 })).toEqual({ arch: 'resnet', depth: 20, width: 16, classes: 10, batchNorm: true, residual: true });
    expect(validateDescription({ arch: 'mlp', sizes: [4, 2] })).toEqual({ arch: 'mlp', sizes: [4, 2], activation: 'relu' });
  });
});

describe('models too large to hold', () => {
  // each would need gigabytes (depth 60002 is 972 million parameters); the count comes from the sizes, so nothing is allocated
  const huge: [string, ModelDescription, number][] = [
    ['a ResNet of depth 60002', { arch: 'resnet', depth: 60002, width: 16, classes: 10, batchNorm: true, residual: true }, 972140826],
    ['a ResNet of width 100000', { arch: 'resnet', depth: 8, width: 100000, classes: 10, batchNorm: true, residual: true }, NaN],
    ['a ResNet with 1e11 classes', { arch: 'resnet', depth: 8, width: 16, classes: 1e11, batchNorm: true, residual: true }, 64 * 1e11 + 1e11 + parameterCount({ arch: 'resnet', depth: 8, width: 16, classes: 0, batchNorm: true, residual: true })],
    ['an MLP of two layers of 1e9', { arch: 'mlp', sizes: [1e9, 1e9], activation: 'relu' }, 1e18 + 1e9],
  ];
  for (const [what, d, count] of huge) {
    it(`refuses ${what} from the description, from buildModel and from --arch alike`, () => {
      for (const attempt of [() => validateDescription(d), () => buildModel(d)]) {
        const err = thrown(attempt);
        expect(err).toBeInstanceOf(OptionError);
        expect(err.message).toContain(MAX_PARAMETERS.toLocaleString('en-US'));
        if (!Number.isNaN(count)) expect(err.message).toContain(count.toLocaleString('en-US'));
      }
    });
  }

  it('accepts a model just under the limit without building it', () => {
    // sizes [n, 1]: n weights and 1 bias
    expect(parameterCount(validateDescription({ arch: 'mlp', sizes: [MAX_PARAMETERS - 1, 1] }))).toBe(MAX_PARAMETERS);
    expect(() => validateDescription({ arch: 'mlp', sizes: [MAX_PARAMETERS, 1] })).toThrow(OptionError);
  });

  it('the --arch parser goes through the same check, naming what was given', () => {
    expect(thrown(() => parseArch('resnet60002')).message).toMatch(/resnet60002.*972,140,826 parameters/);
    expect(thrown(() => parseArch('{"arch": "mlp", "sizes": "abc"}')).message).toMatch(/sizes.*'abc'/);
    expect(thrown(() => parseArch('mlp:784-0-10')).message).toMatch(/mlp:784-0-10.*\[784,0,10\]/);
    expect(thrown(() => parseArch('mlp:4-2:toString')).message).toMatch(/activation 'toString'/);
    expect(parseArch('resnet20-w8')).toEqual({ arch: 'resnet', depth: 20, width: 8, classes: 10, batchNorm: true, residual: true });
  });
});

describe('loading a state dict', () => {
  it('looks each parameter up by name: reads of the block list stay linear in the number of keys', () => {
    const source = resnet({ depth: 56, width: 2, seed: 1 });
    const file = parseSafetensors(encodeSafetensors(stateDict(source)));
    const target = resnet({ depth: 56, width: 2, seed: 2 });
    let reads = 0;
    const blocks = target.blocks;
    Object.defineProperty(target, 'blocks', {
      value: new Proxy(blocks, {
        get(t, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
          return Reflect.get(t, key, receiver);
        },
      }),
    });
    loadStateDict(target, file.tensors, 'resnet56.safetensors');
    // a search per key reads n²/2 entries (here about 18,000); a lookup by name reads none
    expect(reads).toBeLessThanOrEqual(2 * blocks.length);
    expect(Buffer.from(target.theta.buffer).equals(Buffer.from(source.theta.buffer))).toBe(true);
  });
});
