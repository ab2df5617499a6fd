/* Process-wide settings of the addon: which GEMM, which instruction set, how many threads. */
#ifndef HESSE_CONFIG_H
#define HESSE_CONFIG_H

typedef enum { HESSE_GEMM_OWN = 0, HESSE_GEMM_BLAS = 1 } hesse_gemm_backend;
typedef enum { HESSE_ISA_GENERIC = 0, HESSE_ISA_AVX2 = 1, HESSE_ISA_AVX512 = 2 } hesse_isa;

void hesse_config_init(void);

hesse_gemm_backend hesse_gemm_backend_get(void);
/* Returns 0 when the backend is not available in this build. */
int hesse_gemm_backend_set(hesse_gemm_backend b);
int hesse_blas_linked(void);
/* "OpenBLAS 0.3.21 ..." when linked, NULL otherwise. */
const char *hesse_blas_config(void);

hesse_isa hesse_isa_get(void);
hesse_isa hesse_isa_best(void);
/* Returns 0 when the CPU (or this build) cannot run that instruction set. */
int hesse_isa_set(hesse_isa isa);
const char *hesse_isa_name(hesse_isa isa);

/* Whether stride-1 convolutions whose rows are whole strips read one padded copy (1) or kw planes (0). */
int hesse_conv_rows_get(void);
void hesse_conv_rows_set(int on);

int hesse_threads_get(void);
void hesse_threads_set(int n);
int hesse_cpu_count(void);

#endif
