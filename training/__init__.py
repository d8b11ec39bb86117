"""EdgeKE training toolkit: teachers, multi-exit students, distillation, calibration and ONNX export."""
