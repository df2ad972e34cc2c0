{
  "targets": [
    {
      "target_name": "int8",
      "sources": ["int8.cc"],
      "cflags_cc": ["-O3", "-std=c++17", "-ffp-contract=off"],
      "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-ffp-contract=off"] },
      "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/fp:strict"] } }
    }
  ]
}
