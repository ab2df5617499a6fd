// Builds the native kernels (build/Release/hesse_native.node) with node-gyp during `npm install`.
// A failed build is not a failed install: hesse then runs on its reference kernels, so this script
// prints one line saying why and exits 0. binding.gyp also calls it to find OpenBLAS
// (--openblas-defines, --openblas-include, --openblas-libs).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

// Each candidate is tried by compiling and linking a program that calls OpenBLAS's own API, so a
// reference-BLAS cblas.h or a missing library is rejected rather than found.
function openblasCandidates() {
  const dir = process.env.HESSE_OPENBLAS_DIR;
  if (dir) return [{ include: [join(dir, 'include')], libs: [`-L${join(dir, 'lib')}`, `-Wl,-rpath,${join(dir, 'lib')}`, '-lopenblas'] }];
  const list = [
    { include: [], libs: ['-lopenblas'] },
    { include: ['/usr/include/openblas'], libs: ['-lopenblas'] },
    { include: ['/usr/include/x86_64-linux-gnu/openblas-pthread'], libs: ['-lopenblas'] },
  ];
  for (const prefix of ['/opt/homebrew/opt/openblas', '/usr/local/opt/openblas']) {
    if (existsSync(prefix)) list.push({ include: [join(prefix, 'include')], libs: [`-L${prefix}/lib`, `-Wl,-rpath,${prefix}/lib`, '-lopenblas'] });
  }
  return list;
}

function probeOpenblas() {
  if (process.env.HESSE_OPENBLAS === '0') return undefined;
  const cc = process.env.CC || 'cc';
  const work = mkdtempSync(join(tmpdir(), 'hesse-openblas-'));
  try {
    const src = join(work, 'probe.c');
    writeFileSync(
      src,
      '#include <cblas.h>\nint main(void) { float a = 1, b = 1, c = 0; openblas_set_num_threads(1);\n' +
        'cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1);\n' +
        'return openblas_get_config() && c == 1.0f ? 0 : 1; }\n',
    );
    for (const cand of openblasCandidates()) {
      const exe = join(work, 'probe');
      const args = [...cand.include.map((d) => `-I${d}`), src, '-o', exe, ...cand.libs];
      const built = spawnSync(cc, args, { stdio: 'ignore', shell: false });
      if (built.status !== 0) continue;
      if (spawnSync(exe, [], { stdio: 'ignore' }).status === 0) return cand;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) candidates.push(resolve(dirname(process.env.npm_execpath), '../node_modules/node-gyp/bin/node-gyp.js'));
  candidates.push(resolve(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  for (const c of candidates) if (existsSync(c)) return { cmd: process.execPath, args: [c] };
  const onPath = spawnSync('node-gyp', ['--version'], { stdio: 'ignore' });
  if (onPath.status === 0) return { cmd: 'node-gyp', args: [] };
  return { cmd: 'npx', args: ['--yes', 'node-gyp'] };
}

// Without this node-gyp downloads the headers, which fails offline; an installed Node usually has them.
function localNodeDir() {
  const prefix = resolve(dirname(process.execPath), '..');
  const header = join(prefix, 'include', 'node', 'node_version.h');
  if (!existsSync(header)) return undefined;
  const text = readFileSync(header, 'utf8');
  const part = (name) => text.match(new RegExp(`#define NODE_${name}_VERSION (\\d+)`))?.[1];
  return `v${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` === process.version ? prefix : undefined;
}

function build() {
  if (process.env.HESSE_SKIP_NATIVE === '1') {
    console.log('hesse: HESSE_SKIP_NATIVE=1, native kernels not built; hesse will use the slower reference kernels.');
    return;
  }
  const gyp = findNodeGyp();
  const args = [...gyp.args, 'rebuild', '--jobs=max'];
  const nodedir = localNodeDir();
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const run = spawnSync(gyp.cmd, args, { cwd: root, encoding: 'utf8', env: process.env });
  const log = `${run.stdout ?? ''}${run.stderr ?? ''}`;
  const built = join(root, 'build', 'Release', 'hesse_native.node');
  if (run.status === 0 && existsSync(built)) {
    const blas = probeOpenblas() ? 'with OpenBLAS' : 'without OpenBLAS (own GEMM kernel only)';
    console.log(`hesse: native kernels built ${blas}: build/Release/hesse_native.node`);
    return;
  }
  let where = '';
  try {
    mkdirSync(join(root, 'build'), { recursive: true });
    writeFileSync(join(root, 'build', 'native-build.log'), log || String(run.error ?? ''));
    where = '; details in build/native-build.log';
  } catch {
    // the log is a courtesy; the install goes on without it
  }
  const why = run.error ? run.error.message : lastErrorLine(log) ?? `node-gyp exited with ${run.status}`;
  console.log(
    `hesse: could not build the native kernels (${why})${where}. hesse will use the slower reference kernels; ` +
      'install a C compiler, make and Python 3, then run `npm rebuild hesse`.',
  );
}

// The most telling line of a failed build: a compiler error, else node-gyp's own reason, else make's.
function lastErrorLine(log) {
  const lines = log.split('\n').map((l) => l.trim());
  const pick =
    lines.find((l) => /\berror:/.test(l)) ??
    lines.find((l) => /^gyp ERR! stack Error:/.test(l))?.replace(/^gyp ERR! stack /, '') ??
    lines.find((l) => /^gyp ERR! find Python/.test(l)) ??
    lines.find((l) => /Error \d+/.test(l));
  return pick?.slice(0, 200);
}

const flag = process.argv[2];
if (flag === '--openblas-defines' || flag === '--openblas-include' || flag === '--openblas-libs') {
  const found = probeOpenblas();
  if (found) {
    if (flag === '--openblas-defines') console.log('HESSE_HAVE_OPENBLAS');
    if (flag === '--openblas-include') console.log(found.include.join(' '));
    if (flag === '--openblas-libs') console.log(found.libs.join(' '));
  }
} else {
  try {
    build();
  } catch (err) {
    console.log(`hesse: could not build the native kernels (${err instanceof Error ? err.message : String(err)}); hesse will use the slower reference kernels.`);
  }
}
