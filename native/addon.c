/*
 * The Node-API face of the kernels: argument checks (types, sizes, array lengths) and nothing
 * else. Every array is used in place through its own data pointer, subarray offsets included.
 */
#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "conv.h"
#include "elementwise.h"
#include "gemm.h"
#include "gramschmidt.h"
#include "im2col.h"
#include "peak.h"
#include "threads.h"

#define MAX_DIM 2147483647.0

#define CHECK(call)                          \
  do {                                       \
    if ((call) != napi_ok) return 0;         \
  } while (0)

static napi_value fail_range(napi_env env, const char *fn, const char *msg) {
  char text[512];
  snprintf(text, sizeof text, "hesse native %s: %s", fn, msg);
  napi_throw_range_error(env, 0, text);
  return 0;
}

static napi_value fail_type(napi_env env, const char *fn, const char *msg) {
  char text[512];
  snprintf(text, sizeof text, "hesse native %s: %s", fn, msg);
  napi_throw_type_error(env, 0, text);
  return 0;
}

/* At least `least` and at most `most` arguments into argv (those not passed read as undefined); *argc: how many were. */
static int get_args_between(napi_env env, napi_callback_info info, size_t least, size_t most, napi_value *argv, size_t *argc, const char *fn) {
  *argc = most;
  if (napi_get_cb_info(env, info, argc, argv, 0, 0) != napi_ok) return 0;
  /* on return argc is the number passed, which may be more than the `most` copied into argv */
  if (*argc < least || *argc > most) {
    char msg[128];
    if (least == most) snprintf(msg, sizeof msg, "expected %zu arguments, got %zu", least, *argc);
    else snprintf(msg, sizeof msg, "expected %zu %s %zu arguments, got %zu", least, most == least + 1 ? "or" : "to", most, *argc);
    fail_type(env, fn, msg);
    return 0;
  }
  return 1;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *fn) {
  size_t argc;
  return get_args_between(env, info, want, want, argv, &argc, fn);
}

static int get_f32(napi_env env, napi_value v, const char *fn, const char *name, float **data, long *len) {
  bool is_ta = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *ptr = 0;
  char msg[160];
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, &length, &ptr, 0, 0) != napi_ok || type != napi_float32_array) {
    snprintf(msg, sizeof msg, "%s must be a Float32Array", name);
    fail_type(env, fn, msg);
    return 0;
  }
  *data = (float *)ptr; /* Node-API has already added the view's byte offset */
  *len = (long)length;
  return 1;
}

static int get_number(napi_env env, napi_value v, const char *fn, const char *name, double *out) {
  napi_valuetype t;
  char msg[160];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, out) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a number", name);
    fail_type(env, fn, msg);
    return 0;
  }
  if (!isfinite(*out)) {
    snprintf(msg, sizeof msg, "%s must be finite, got %g", name, *out);
    fail_range(env, fn, msg);
    return 0;
  }
  return 1;
}

/* A size or count: an integer in [min, 2^31). */
static int get_int(napi_env env, napi_value v, const char *fn, const char *name, long min, long *out) {
  double d;
  char msg[160];
  if (!get_number(env, v, fn, name, &d)) return 0;
  if (d != floor(d) || d < (double)min || d > MAX_DIM) {
    snprintf(msg, sizeof msg, "%s must be an integer >= %ld, got %g", name, min, d);
    fail_range(env, fn, msg);
    return 0;
  }
  *out = (long)d;
  return 1;
}

static int get_bool(napi_env env, napi_value v, const char *fn, const char *name, int *out) {
  bool b;
  napi_valuetype t;
  char msg[160];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_boolean || napi_get_value_bool(env, v, &b) != napi_ok) {
    snprintf(msg, sizeof msg, "%s must be a boolean", name);
    fail_type(env, fn, msg);
    return 0;
  }
  *out = b;
  return 1;
}

static int need(napi_env env, const char *fn, const char *name, long len, double needed, const char *what) {
  if ((double)len >= needed) return 1;
  char msg[256];
  snprintf(msg, sizeof msg, "%s has %ld elements but %s = %.0f are needed", name, len, what, needed);
  fail_range(env, fn, msg);
  return 0;
}

static int get_geom(napi_env env, napi_value v, const char *fn, hesse_geom *g) {
  static const char *names[9] = {"C", "H", "W", "kh", "kw", "sh", "sw", "ph", "pw"};
  long *fields[9] = {&g->C, &g->H, &g->W, &g->kh, &g->kw, &g->sh, &g->sw, &g->ph, &g->pw};
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object) {
    fail_type(env, fn, "the geometry must be an object {C, H, W, kh, kw, sh, sw, ph, pw}");
    return 0;
  }
  for (int i = 0; i < 9; i++) {
    napi_value field;
    char name[32];
    snprintf(name, sizeof name, "geometry.%s", names[i]);
    if (napi_get_named_property(env, v, names[i], &field) != napi_ok) return 0;
    if (!get_int(env, field, fn, name, i >= 7 ? 0 : 1, fields[i])) return 0;
  }
  const long hspan = g->H + 2 * g->ph - g->kh, wspan = g->W + 2 * g->pw - g->kw;
  if (hspan < 0 || wspan < 0) {
    char msg[200];
    snprintf(msg, sizeof msg, "the %ldx%ld kernel is larger than the padded %ldx%ld input", g->kh, g->kw,
             g->H + 2 * g->ph, g->W + 2 * g->pw);
    fail_range(env, fn, msg);
    return 0;
  }
  g->Ho = hspan / g->sh + 1;
  g->Wo = wspan / g->sw + 1;
  return 1;
}

static napi_value js_sgemm(napi_env env, napi_callback_info info) {
  const char *fn = "sgemm";
  napi_value argv[10];
  int tA, tB;
  long M, N, K, la, lb, lc;
  double alpha, beta;
  float *A, *B, *C;
  if (!get_args(env, info, 10, argv, fn) || !get_bool(env, argv[0], fn, "transA", &tA) ||
      !get_bool(env, argv[1], fn, "transB", &tB) || !get_int(env, argv[2], fn, "M", 0, &M) ||
      !get_int(env, argv[3], fn, "N", 0, &N) || !get_int(env, argv[4], fn, "K", 0, &K) ||
      !get_number(env, argv[5], fn, "alpha", &alpha) || !get_f32(env, argv[6], fn, "A", &A, &la) ||
      !get_f32(env, argv[7], fn, "B", &B, &lb) || !get_number(env, argv[8], fn, "beta", &beta) ||
      !get_f32(env, argv[9], fn, "C", &C, &lc))
    return 0;
  if (!need(env, fn, "A", la, (double)M * K, "M*K") || !need(env, fn, "B", lb, (double)K * N, "K*N") ||
      !need(env, fn, "C", lc, (double)M * N, "M*N"))
    return 0;
  const hesse_gemm_args g = {tA, tB, M, N, K, (float)alpha, A, tA ? M : K, B, tB ? K : N, (float)beta, C, N};
  if (hesse_sgemm(&g, hesse_threads_get()) != 0) napi_throw_error(env, 0, "hesse native sgemm: out of memory for the packing buffers");
  return 0;
}

static napi_value js_im2col(napi_env env, napi_callback_info info, int fold) {
  const char *fn = fold ? "col2im" : "im2col";
  napi_value argv[3];
  hesse_geom g;
  float *a, *b;
  long la, lb;
  if (!get_args(env, info, 3, argv, fn) || !get_f32(env, argv[0], fn, fold ? "col" : "x", &a, &la) ||
      !get_geom(env, argv[1], fn, &g) || !get_f32(env, argv[2], fn, fold ? "x" : "col", &b, &lb))
    return 0;
  const double image = (double)g.C * g.H * g.W, cols = (double)g.C * g.kh * g.kw * g.Ho * g.Wo;
  const long P = g.Ho * g.Wo;
  if (fold) {
    if (!need(env, fn, "col", la, cols, "C*kh*kw*Ho*Wo") || !need(env, fn, "x", lb, image, "C*H*W")) return 0;
    hesse_col2im(a, &g, b, P);
  } else {
    if (!need(env, fn, "x", la, image, "C*H*W") || !need(env, fn, "col", lb, cols, "C*kh*kw*Ho*Wo")) return 0;
    hesse_im2col(a, &g, b, P);
  }
  return 0;
}

static napi_value js_im2col_unfold(napi_env env, napi_callback_info info) { return js_im2col(env, info, 0); }
static napi_value js_col2im(napi_env env, napi_callback_info info) { return js_im2col(env, info, 1); }

typedef enum { CONV_FORWARD, CONV_BACKWARD_INPUT, CONV_BACKWARD_WEIGHT } conv_which;

/*
 * conv2dForward(x, w, y, N, O, g, accumulate?, x2?, w2?), conv2dBackwardInput(gy, w, gx, N, O, g,
 * accumulate?, gy2?, w2?), conv2dBackwardWeight(gy, x, gw, N, O, g, accumulate?): the second pair,
 * both or neither, adds its convolution to the output too.
 */
static napi_value js_conv(napi_env env, napi_callback_info info, conv_which which) {
  static const char *fns[3] = {"conv2dForward", "conv2dBackwardInput", "conv2dBackwardWeight"};
  static const char *names[3][5] = {{"x", "w", "y", "x2", "w2"}, {"gy", "w", "gx", "gy2", "w2"}, {"gy", "x", "gw", 0, 0}};
  const char *fn = fns[which];
  napi_value argv[9];
  float *p[5] = {0};
  long len[5] = {0}, N, O;
  hesse_geom g;
  int accumulate = 0;
  size_t argc;
  if (!get_args_between(env, info, 6, which == CONV_BACKWARD_WEIGHT ? 7 : 9, argv, &argc, fn)) return 0;
  if (argc >= 7) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[6], &t));
    if (t != napi_undefined && !get_bool(env, argv[6], fn, "accumulate", &accumulate)) return 0;
  }
  for (int i = 0; i < 3; i++)
    if (!get_f32(env, argv[i], fn, names[which][i], &p[i], &len[i])) return 0;
  int given[2] = {0, 0}; /* a zero-length array may have a null data pointer: count arrays, not pointers */
  for (int i = 3; i < 5 && (size_t)(i + 4) < argc; i++) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[i + 4], &t));
    if (t == napi_undefined) continue;
    if (!get_f32(env, argv[i + 4], fn, names[which][i], &p[i], &len[i])) return 0;
    given[i - 3] = 1;
  }
  if (given[0] != given[1]) return fail_type(env, fn, "the second pair needs both of its arrays");
  const int pair = given[0];
  if (!get_int(env, argv[3], fn, "N", 0, &N) || !get_int(env, argv[4], fn, "O", 1, &O) ||
      !get_geom(env, argv[5], fn, &g))
    return 0;
  const double image = (double)N * g.C * g.H * g.W, out = (double)N * O * g.Ho * g.Wo,
               weight = (double)O * g.C * g.kh * g.kw;
  const double sizes[3][5] = {{image, weight, out, image, weight}, {out, weight, image, out, weight}, {out, image, weight}};
  static const char *what[3][5] = {{"N*C*H*W", "O*C*kh*kw", "N*O*Ho*Wo", "N*C*H*W", "O*C*kh*kw"},
                                   {"N*O*Ho*Wo", "O*C*kh*kw", "N*C*H*W", "N*O*Ho*Wo", "O*C*kh*kw"},
                                   {"N*O*Ho*Wo", "N*C*H*W", "O*C*kh*kw"}};
  for (int i = 0; i < (pair ? 5 : 3); i++)
    if (!need(env, fn, names[which][i], len[i], sizes[which][i], what[which][i])) return 0;
  int rc;
  switch (which) {
    case CONV_FORWARD: rc = hesse_conv2d_forward(p[0], p[1], p[3], p[4], p[2], N, O, &g, accumulate); break;
    case CONV_BACKWARD_INPUT: rc = hesse_conv2d_backward_input(p[0], p[1], p[3], p[4], p[2], N, O, &g, accumulate); break;
    default: rc = hesse_conv2d_backward_weight(p[0], p[1], p[2], N, O, &g, accumulate); break;
  }
  if (rc != 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "hesse native %s: out of memory for the work buffers", fn);
    napi_throw_error(env, 0, msg);
  }
  return 0;
}

static napi_value js_conv_forward(napi_env env, napi_callback_info info) { return js_conv(env, info, CONV_FORWARD); }
static napi_value js_conv_backward_input(napi_env env, napi_callback_info info) {
  return js_conv(env, info, CONV_BACKWARD_INPUT);
}
static napi_value js_conv_backward_weight(napi_env env, napi_callback_info info) {
  return js_conv(env, info, CONV_BACKWARD_WEIGHT);
}

static int set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  if (napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v) != napi_ok) return 0;
  return napi_set_named_property(env, obj, key, v) == napi_ok;
}

static int set_int(napi_env env, napi_value obj, const char *key, int value) {
  napi_value v;
  if (napi_create_int32(env, value, &v) != napi_ok) return 0;
  return napi_set_named_property(env, obj, key, v) == napi_ok;
}

/* { gemm, blas, blasConfig?, isa, bestIsa, kernel, threads, cpus, convRows } */
static napi_value js_info(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value obj, b;
  CHECK(napi_create_object(env, &obj));
  set_string(env, obj, "gemm", hesse_gemm_backend_get() == HESSE_GEMM_BLAS ? "blas" : "own");
  CHECK(napi_get_boolean(env, hesse_blas_linked(), &b));
  CHECK(napi_set_named_property(env, obj, "blas", b));
  if (hesse_blas_config()) set_string(env, obj, "blasConfig", hesse_blas_config());
  set_string(env, obj, "isa", hesse_isa_name(hesse_isa_get()));
  set_string(env, obj, "bestIsa", hesse_isa_name(hesse_isa_best()));
  set_string(env, obj, "kernel", hesse_own_kernel_name());
  set_int(env, obj, "threads", hesse_threads_get());
  CHECK(napi_get_boolean(env, hesse_conv_rows_get(), &b));
  CHECK(napi_set_named_property(env, obj, "convRows", b));
  set_int(env, obj, "cpus", hesse_cpu_count());
  return obj;
}

static int read_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t n;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return 0;
  return napi_get_value_string_utf8(env, v, buf, size, &n) == napi_ok;
}

/* configure({ gemm?: 'own'|'blas', isa?: 'generic'|'avx2'|'avx512', threads?: n, convRows?: bool }) -> info(). All or nothing. */
static napi_value js_configure(napi_env env, napi_callback_info info) {
  const char *fn = "configure";
  napi_value argv[1], v;
  napi_valuetype t;
  bool has;
  char s[32];
  int set_gemm = 0, set_isa = 0, set_threads = 0, set_rows = 0, rows = 1;
  hesse_gemm_backend gemm = HESSE_GEMM_OWN;
  hesse_isa isa = HESSE_ISA_GENERIC;
  long threads = 1;
  if (!get_args(env, info, 1, argv, fn)) return 0;
  if (napi_typeof(env, argv[0], &t) != napi_ok || t != napi_object) return fail_type(env, fn, "settings must be an object");
  CHECK(napi_has_named_property(env, argv[0], "gemm", &has));
  if (has) {
    CHECK(napi_get_named_property(env, argv[0], "gemm", &v));
    if (!read_string(env, v, s, sizeof s) || (strcmp(s, "own") != 0 && strcmp(s, "blas") != 0))
      return fail_range(env, fn, "gemm must be 'own' or 'blas'");
    gemm = strcmp(s, "blas") == 0 ? HESSE_GEMM_BLAS : HESSE_GEMM_OWN;
    if (gemm == HESSE_GEMM_BLAS && !hesse_blas_linked())
      return fail_range(env, fn, "gemm 'blas' needs OpenBLAS, which this build did not find");
    set_gemm = 1;
  }
  CHECK(napi_has_named_property(env, argv[0], "isa", &has));
  if (has) {
    CHECK(napi_get_named_property(env, argv[0], "isa", &v));
    if (!read_string(env, v, s, sizeof s)) return fail_range(env, fn, "isa must be 'generic', 'avx2' or 'avx512'");
    if (strcmp(s, "generic") == 0) isa = HESSE_ISA_GENERIC;
    else if (strcmp(s, "avx2") == 0) isa = HESSE_ISA_AVX2;
    else if (strcmp(s, "avx512") == 0) isa = HESSE_ISA_AVX512;
    else return fail_range(env, fn, "isa must be 'generic', 'avx2' or 'avx512'");
    if (isa > hesse_isa_best()) return fail_range(env, fn, "this CPU cannot run the requested isa");
    set_isa = 1;
  }
  CHECK(napi_has_named_property(env, argv[0], "threads", &has));
  if (has) {
    CHECK(napi_get_named_property(env, argv[0], "threads", &v));
    if (!get_int(env, v, fn, "threads", 1, &threads)) return 0;
    if (threads > 64) return fail_range(env, fn, "threads must be at most 64");
    set_threads = 1;
  }
  CHECK(napi_has_named_property(env, argv[0], "convRows", &has));
  if (has) {
    CHECK(napi_get_named_property(env, argv[0], "convRows", &v));
    if (!get_bool(env, v, fn, "convRows", &rows)) return 0;
    set_rows = 1;
  }
  if (set_gemm) hesse_gemm_backend_set(gemm);
  if (set_rows) hesse_conv_rows_set(rows);
  if (set_isa) hesse_isa_set(isa);
  if (set_threads) hesse_threads_set((int)threads);
  return js_info(env, info);
}

/* Reads [rank, shape..., then `sets` stride lists] from a Float64Array and checks each operand's reach. */
static int get_geometry(napi_env env, napi_value v, const char *fn, int sets, int *rank, long *shape, long strides[][HESSE_EW_MAX_RANK]) {
  bool is_ta = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *ptr = 0;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta || napi_get_typedarray_info(env, v, &type, &length, &ptr, 0, 0) != napi_ok ||
      type != napi_float64_array) {
    fail_type(env, fn, "geometry must be a Float64Array");
    return 0;
  }
  const double *g = (const double *)ptr;
  if (length < 1 || g[0] < 1 || g[0] > HESSE_EW_MAX_RANK || g[0] != (double)(int)g[0]) {
    fail_range(env, fn, "geometry: rank must be an integer in 1..8");
    return 0;
  }
  int r = (int)g[0];
  if (length != (size_t)(1 + r * (1 + sets))) {
    fail_range(env, fn, "geometry has the wrong length for its rank");
    return 0;
  }
  for (int i = 0; i < r * (1 + sets); i++) {
    double x = g[1 + i];
    if (!(x >= 0 && x <= MAX_DIM) || x != (double)(long)x) {
      fail_range(env, fn, "geometry: shapes and strides must be non-negative integers");
      return 0;
    }
  }
  *rank = r;
  for (int d = 0; d < r; d++) shape[d] = (long)g[1 + d];
  for (int s = 0; s < sets; s++)
    for (int d = 0; d < r; d++) strides[s][d] = (long)g[1 + r * (1 + s) + d];
  return 1;
}

/* The largest element index an operand walked with `st` over `shape` touches, +1 (0 for an empty shape). */
static long reach(int rank, const long *shape, const long *st) {
  long m = 0;
  for (int d = 0; d < rank; d++) {
    if (shape[d] == 0) return 0;
    m += (shape[d] - 1) * st[d];
  }
  return m + 1;
}

/* binary(kind, a, b | null, out, geometry = [rank, shape, stridesA, stridesB], accumulate) */
static napi_value js_binary(napi_env env, napi_callback_info info) {
  const char *fn = "binary";
  napi_value argv[6];
  long kind, shape[HESSE_EW_MAX_RANK], st[2][HESSE_EW_MAX_RANK], la = 0, lb = 0, lo = 0;
  float *a, *b = 0, *out;
  int rank;
  bool acc = false;
  napi_valuetype t;
  if (!get_args(env, info, 6, argv, fn)) return 0;
  if (!get_int(env, argv[0], fn, "kind", 0, &kind)) return 0;
  if (kind > 7) return fail_range(env, fn, "kind must be 0..7 (add, sub, mul, div, copy, max, greater, gate)");
  if (!get_f32(env, argv[1], fn, "a", &a, &la)) return 0;
  CHECK(napi_typeof(env, argv[2], &t));
  if (t != napi_null && !get_f32(env, argv[2], fn, "b", &b, &lb)) return 0;
  if (!get_f32(env, argv[3], fn, "out", &out, &lo)) return 0;
  if (!get_geometry(env, argv[4], fn, 2, &rank, shape, st)) return 0;
  CHECK(napi_get_value_bool(env, argv[5], &acc));
  long total = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  if (total > lo) return fail_range(env, fn, "out is shorter than the iteration shape");
  if (reach(rank, shape, st[0]) > la) return fail_range(env, fn, "a is too short for its strides");
  if (kind != HESSE_EW_COPY) {
    if (!b) return fail_type(env, fn, "b must be a Float32Array for this kind");
    if (reach(rank, shape, st[1]) > lb) return fail_range(env, fn, "b is too short for its strides");
  }
  hesse_binary((hesse_ew_kind)kind, a, b, out, rank, shape, st[0], st[1], acc, hesse_threads_get());
  return 0;
}

/*
 * muladd(a, b, c | null, d | null, e | null, out, geometry = [rank, shape, strides of a, b, c, d, e
 * (and of the mask, for mode GATE)], mode (0 set, 1 add, 2 relu, 3 gate), mask (GATE only))
 */
static napi_value js_muladd(napi_env env, napi_callback_info info) {
  const char *fn = "muladd";
  static const char *names[6] = {"a", "b", "c", "d", "e", "mask"};
  napi_value argv[9];
  long shape[HESSE_EW_MAX_RANK], st[6][HESSE_EW_MAX_RANK], len[6] = {0}, lo = 0;
  float *p[6] = {0}, *out;
  int rank;
  int32_t mode = 0;
  size_t argc;
  if (!get_args_between(env, info, 8, 9, argv, &argc, fn)) return 0;
  for (int k = 0; k < 5; k++) {
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[k], &t));
    if (k >= 2 && t == napi_null) continue;
    if (!get_f32(env, argv[k], fn, names[k], &p[k], &len[k])) return 0;
  }
  if (!p[2] != !p[3]) return fail_type(env, fn, "c and d must both be Float32Arrays or both null");
  if (!get_f32(env, argv[5], fn, "out", &out, &lo)) return 0;
  double md = -1;
  if (napi_get_value_double(env, argv[7], &md) != napi_ok || !(md >= HESSE_MULADD_SET && md <= HESSE_MULADD_GATE) || md != (int32_t)md)
    return fail_range(env, fn, "mode must be 0 (set), 1 (add), 2 (relu) or 3 (gate)");
  mode = (int32_t)md;
  const int gated = mode == HESSE_MULADD_GATE, sets = gated ? 6 : 5;
  napi_valuetype mt = napi_undefined;
  if (argc > 8) CHECK(napi_typeof(env, argv[8], &mt));
  if (gated) {
    if (argc < 9) return fail_type(env, fn, "mode gate (3) needs the mask, a Float32Array, as the 9th argument");
    if (!get_f32(env, argv[8], fn, names[5], &p[5], &len[5])) return 0;
  } else if (mt != napi_undefined && mt != napi_null) {
    return fail_type(env, fn, "a mask goes with mode gate (3) only: pass null, or mode 3");
  }
  if (!get_geometry(env, argv[6], fn, sets, &rank, shape, st)) return 0;
  long total = 1;
  for (int d = 0; d < rank; d++) total *= shape[d];
  if (total > lo) return fail_range(env, fn, "out is shorter than the iteration shape");
  for (int k = 0; k < sets; k++)
    if (p[k] && reach(rank, shape, st[k]) > len[k]) {
      char msg[80];
      snprintf(msg, sizeof msg, "%s is too short for its strides", names[k]);
      return fail_range(env, fn, msg);
    }
  const long *const strides[6] = {st[0], st[1], st[2], st[3], st[4], st[5]};
  hesse_muladd(p[0], p[1], p[2], p[3], p[4], p[5], out, rank, shape, strides, (hesse_muladd_mode)mode, hesse_threads_get());
  return 0;
}

/* reduce(a, b | null, out, geometry = [rank, shape, stridesA, stridesB, stridesOut]) */
static napi_value js_reduce(napi_env env, napi_callback_info info) {
  const char *fn = "reduce";
  napi_value argv[4];
  long shape[HESSE_EW_MAX_RANK], st[3][HESSE_EW_MAX_RANK], la = 0, lb = 0, lo = 0;
  float *a, *b = 0, *out;
  int rank;
  napi_valuetype t;
  if (!get_args(env, info, 4, argv, fn)) return 0;
  if (!get_f32(env, argv[0], fn, "a", &a, &la)) return 0;
  CHECK(napi_typeof(env, argv[1], &t));
  if (t != napi_null && !get_f32(env, argv[1], fn, "b", &b, &lb)) return 0;
  if (!get_f32(env, argv[2], fn, "out", &out, &lo)) return 0;
  if (!get_geometry(env, argv[3], fn, 3, &rank, shape, st)) return 0;
  if (reach(rank, shape, st[0]) > la) return fail_range(env, fn, "a is too short for its strides");
  if (b && reach(rank, shape, st[1]) > lb) return fail_range(env, fn, "b is too short for its strides");
  if (reach(rank, shape, st[2]) > lo) return fail_range(env, fn, "out is too short for its strides");
  hesse_reduce(a, b, out, lo, rank, shape, st[0], st[1], st[2], hesse_threads_get());
  return 0;
}

/* affineBackward(g, x, s, mask | null, dx, ds, dt, N, C, HW): the cotangents of y = x·s + t (then ReLU where mask is y) */
static napi_value js_affine_backward(napi_env env, napi_callback_info info) {
  const char *fn = "affineBackward";
  napi_value argv[10];
  long N, C, HW, lg = 0, lx = 0, ls = 0, lm = 0, ldx = 0, lds = 0, ldt = 0;
  float *g, *x, *sc, *mask = 0, *dx, *ds, *dt;
  napi_valuetype t;
  if (!get_args(env, info, 10, argv, fn)) return 0;
  if (!get_f32(env, argv[0], fn, "g", &g, &lg) || !get_f32(env, argv[1], fn, "x", &x, &lx) || !get_f32(env, argv[2], fn, "s", &sc, &ls)) return 0;
  CHECK(napi_typeof(env, argv[3], &t));
  if (t != napi_null && !get_f32(env, argv[3], fn, "mask", &mask, &lm)) return 0;
  if (!get_f32(env, argv[4], fn, "dx", &dx, &ldx) || !get_f32(env, argv[5], fn, "ds", &ds, &lds) || !get_f32(env, argv[6], fn, "dt", &dt, &ldt)) return 0;
  if (!get_int(env, argv[7], fn, "N", 0, &N) || !get_int(env, argv[8], fn, "C", 0, &C) || !get_int(env, argv[9], fn, "HW", 0, &HW)) return 0;
  const double total = (double)N * (double)C * (double)HW; /* in double: the product of three dimensions can overflow a long */
  if (total > lg || total > lx || total > ldx || (mask && total > lm)) return fail_range(env, fn, "g, x, mask and dx must each hold N*C*HW values");
  if (ls < C || lds < C || ldt < C) return fail_range(env, fn, "s, ds and dt must each hold C values");
  if (!hesse_affine_backward(g, x, sc, mask, dx, ds, dt, N, C, HW, hesse_threads_get()))
    napi_throw_error(env, 0, "hesse native affineBackward: out of memory for the channel sums");
  return 0;
}

/*
 * affineBackwardTangent(g, x, s, mask | null, tg, tx | null, ts | null, dgx, dgs, dgt, k, N, C, HW): the tangent of
 * affineBackward's cotangents for a block of k tangents
 */
static napi_value js_affine_backward_tangent(napi_env env, napi_callback_info info) {
  const char *fn = "affineBackwardTangent";
  napi_value argv[14];
  long K, N, C, HW, lg = 0, lx = 0, ls = 0, lm = 0, ltg = 0, ltx = 0, lts = 0, ldx = 0, lds = 0, ldt = 0;
  float *g, *x, *sc, *mask = 0, *tg, *tx = 0, *ts = 0, *dgx, *dgs, *dgt;
  napi_valuetype t;
  if (!get_args(env, info, 14, argv, fn)) return 0;
  if (!get_f32(env, argv[0], fn, "g", &g, &lg) || !get_f32(env, argv[1], fn, "x", &x, &lx) || !get_f32(env, argv[2], fn, "s", &sc, &ls)) return 0;
  CHECK(napi_typeof(env, argv[3], &t));
  if (t != napi_null && !get_f32(env, argv[3], fn, "mask", &mask, &lm)) return 0;
  if (!get_f32(env, argv[4], fn, "tg", &tg, &ltg)) return 0;
  CHECK(napi_typeof(env, argv[5], &t));
  if (t != napi_null && !get_f32(env, argv[5], fn, "tx", &tx, &ltx)) return 0;
  CHECK(napi_typeof(env, argv[6], &t));
  if (t != napi_null && !get_f32(env, argv[6], fn, "ts", &ts, &lts)) return 0;
  if (!get_f32(env, argv[7], fn, "dgx", &dgx, &ldx) || !get_f32(env, argv[8], fn, "dgs", &dgs, &lds) || !get_f32(env, argv[9], fn, "dgt", &dgt, &ldt)) return 0;
  if (!get_int(env, argv[10], fn, "k", 1, &K) || !get_int(env, argv[11], fn, "N", 0, &N) || !get_int(env, argv[12], fn, "C", 0, &C) ||
      !get_int(env, argv[13], fn, "HW", 0, &HW))
    return 0;
  const double total = (double)N * (double)C * (double)HW; /* in double: the product of dimensions can overflow a long */
  if (total > lg || total > lx || (mask && total > lm)) return fail_range(env, fn, "g, x and mask must each hold N*C*HW values");
  if ((double)K * total > ltg || (tx && (double)K * total > ltx) || (double)K * total > ldx)
    return fail_range(env, fn, "tg, tx and dgx must each hold k*N*C*HW values");
  if (ls < C) return fail_range(env, fn, "s must hold C values");
  if ((ts && (double)K * C > lts) || (double)K * C > lds || (double)K * C > ldt) return fail_range(env, fn, "ts, dgs and dgt must each hold k*C values");
  if (!hesse_affine_backward_tangent(g, x, sc, mask, tg, tx, ts, dgx, dgs, dgt, K, N, C, HW, hesse_threads_get()))
    napi_throw_error(env, 0, "hesse native affineBackwardTangent: out of memory for the channel sums");
  return 0;
}

/* gramSchmidt(v, basis: Float32Array[], passes, coeffs: Float64Array): classical Gram-Schmidt in float64, in place. */
static napi_value js_gram_schmidt(napi_env env, napi_callback_info info) {
  const char *fn = "gramSchmidt";
  napi_value argv[4], el;
  long n = 0, passes;
  uint32_t m = 0;
  bool is_array = false, is_ta = false;
  float *v;
  napi_typedarray_type type;
  size_t clen = 0;
  void *cptr = 0;
  char msg[200];
  if (!get_args(env, info, 4, argv, fn)) return 0;
  if (!get_f32(env, argv[0], fn, "v", &v, &n)) return 0;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) return fail_type(env, fn, "basis must be an array of Float32Arrays");
  CHECK(napi_get_array_length(env, argv[1], &m));
  if (!get_int(env, argv[2], fn, "passes", 0, &passes)) return 0;
  if (napi_is_typedarray(env, argv[3], &is_ta) != napi_ok || !is_ta || napi_get_typedarray_info(env, argv[3], &type, &clen, &cptr, 0, 0) != napi_ok ||
      type != napi_float64_array)
    return fail_type(env, fn, "coeffs must be a Float64Array");
  if ((long)clen < (long)m) return fail_range(env, fn, "coeffs must hold one value per basis vector");
  const float **basis = malloc((size_t)(m ? m : 1) * sizeof(float *));
  if (!basis) {
    napi_throw_error(env, 0, "hesse native gramSchmidt: out of memory");
    return 0;
  }
  for (uint32_t k = 0; k < m; k++) {
    float *b;
    long len = 0;
    snprintf(msg, sizeof msg, "basis[%u]", k);
    if (napi_get_element(env, argv[1], k, &el) != napi_ok || !get_f32(env, el, fn, msg, &b, &len)) {
      free(basis);
      return 0;
    }
    if (len != n) {
      free(basis);
      snprintf(msg, sizeof msg, "basis[%u] has %ld elements but v has %ld", k, len, n);
      return fail_range(env, fn, msg);
    }
    basis[k] = b;
  }
  const int rc = hesse_gram_schmidt(v, basis, (long)m, n, (int)passes, (double *)cptr, hesse_threads_get());
  free(basis);
  if (rc != 0) napi_throw_error(env, 0, "hesse native gramSchmidt: out of memory for the float64 copy");
  return 0;
}

/* fmaPeak(isa, seconds) -> GFLOP/s of independent FMAs on one thread: the ceiling a GEMM can approach. */
static napi_value js_fma_peak(napi_env env, napi_callback_info info) {
  const char *fn = "fmaPeak";
  napi_value argv[2], out;
  char s[32];
  double seconds;
  if (!get_args(env, info, 2, argv, fn)) return 0;
  if (!read_string(env, argv[0], s, sizeof s)) return fail_type(env, fn, "isa must be a string");
  if (!get_number(env, argv[1], fn, "seconds", &seconds)) return 0;
  hesse_isa isa = strcmp(s, "avx512") == 0 ? HESSE_ISA_AVX512 : strcmp(s, "avx2") == 0 ? HESSE_ISA_AVX2 : HESSE_ISA_GENERIC;
  if (isa > hesse_isa_best()) return fail_range(env, fn, "this CPU cannot run the requested isa");
  CHECK(napi_create_double(env, hesse_fma_peak_gflops(isa, seconds), &out));
  return out;
}

/* timeWorkload(reps) -> seconds of the fixed kernel mix on one thread, the median of reps, with the current settings. */
static napi_value js_time_workload(napi_env env, napi_callback_info info) {
  const char *fn = "timeWorkload";
  napi_value argv[1], out;
  long reps;
  if (!get_args(env, info, 1, argv, fn) || !get_int(env, argv[0], fn, "reps", 1, &reps)) return 0;
  const double s = hesse_time_workload((int)reps);
  if (s < 0) {
    napi_throw_error(env, 0, "hesse native timeWorkload: out of memory for the work buffers");
    return 0;
  }
  CHECK(napi_create_double(env, s, &out));
  return out;
}

NAPI_MODULE_INIT() {
  hesse_config_init();
  napi_property_descriptor props[] = {
      {"sgemm", 0, js_sgemm, 0, 0, 0, napi_default, 0},
      {"im2col", 0, js_im2col_unfold, 0, 0, 0, napi_default, 0},
      {"col2im", 0, js_col2im, 0, 0, 0, napi_default, 0},
      {"conv2dForward", 0, js_conv_forward, 0, 0, 0, napi_default, 0},
      {"conv2dBackwardInput", 0, js_conv_backward_input, 0, 0, 0, napi_default, 0},
      {"conv2dBackwardWeight", 0, js_conv_backward_weight, 0, 0, 0, napi_default, 0},
      {"binary", 0, js_binary, 0, 0, 0, napi_default, 0},
      {"reduce", 0, js_reduce, 0, 0, 0, napi_default, 0},
      {"muladd", 0, js_muladd, 0, 0, 0, napi_default, 0},
      {"affineBackward", 0, js_affine_backward, 0, 0, 0, napi_default, 0},
      {"affineBackwardTangent", 0, js_affine_backward_tangent, 0, 0, 0, napi_default, 0},
      {"gramSchmidt", 0, js_gram_schmidt, 0, 0, 0, napi_default, 0},
      {"info", 0, js_info, 0, 0, 0, napi_default, 0},
      {"configure", 0, js_configure, 0, 0, 0, napi_default, 0},
      {"fmaPeak", 0, js_fma_peak, 0, 0, 0, napi_default, 0},
      {"timeWorkload", 0, js_time_workload, 0, 0, 0, napi_default, 0},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return 0;
  return exports;
}
