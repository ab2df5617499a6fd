{
  "targets": [
    {
      "target_name": "hesse_native",
      "sources": [
        "native/addon.c",
        "native/config.c",
        "native/conv.c",
        "native/elementwise.c",
        "native/gemm.c",
        "native/gramschmidt.c",
        "native/im2col.c",
        "native/microkernel_generic.c",
        "native/microkernel_avx2.c",
        "native/microkernel_avx512.c",
        "native/pack.c",
        "native/peak.c",
        "native/threads.c"
      ],
      "defines": ["<!@(node scripts/build-native.mjs --openblas-defines)"],
      "include_dirs": ["<!@(node scripts/build-native.mjs --openblas-include)"],
      # never unloaded: worker threads load the addon too, and thread-local destructors (OpenBLAS's)
      # must still be mapped when those threads exit
      "ldflags": ["-Wl,-z,nodelete"],
      "libraries": ["<!@(node scripts/build-native.mjs --openblas-libs)", "-lpthread"],
      "cflags_c": ["-std=gnu11", "-O3", "-fno-math-errno", "-ffp-contract=off", "-fno-tree-loop-distribute-patterns", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": {
        "OTHER_CFLAGS": ["-std=gnu11", "-O3", "-fno-math-errno", "-ffp-contract=off"]
      }
    }
  ]
}
