// Python bindings of the MultiScaleDeformableAttention extension. The CPU kernel is always compiled; the CUDA
// kernel only when the extension is built with WITH_CUDA (see setup.py). Python chooses the implementation
// (vidseg/layers/ms_deform_attn/dispatch.py); each function here expects tensors on its own device kind.
#include <torch/extension.h>

#include "ms_deform_attn.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Multi-scale deformable attention kernels (vidseg)";
  m.def("forward_cpu", &vidseg::ms_deform_attn_forward_cpu, "MSDA forward on CPU -> N x Lq x (M*D)",
        py::arg("value"), py::arg("spatial_shapes"), py::arg("level_start_index"), py::arg("sampling_loc"),
        py::arg("attn_weight"), py::call_guard<py::gil_scoped_release>());
  m.def("backward_cpu", &vidseg::ms_deform_attn_backward_cpu,
        "MSDA backward on CPU -> [grad_value, grad_sampling_loc, grad_attn_weight]", py::arg("value"),
        py::arg("spatial_shapes"), py::arg("level_start_index"), py::arg("sampling_loc"), py::arg("attn_weight"),
        py::arg("grad_output"), py::call_guard<py::gil_scoped_release>());
#ifdef WITH_CUDA
  m.attr("with_cuda") = true;
  m.def("forward_cuda", &vidseg::ms_deform_attn_forward_cuda, "MSDA forward on CUDA -> N x Lq x (M*D)",
        py::arg("value"), py::arg("spatial_shapes"), py::arg("level_start_index"), py::arg("sampling_loc"),
        py::arg("attn_weight"), py::call_guard<py::gil_scoped_release>());
  m.def("backward_cuda", &vidseg::ms_deform_attn_backward_cuda,
        "MSDA backward on CUDA -> [grad_value, grad_sampling_loc, grad_attn_weight]", py::arg("value"),
        py::arg("spatial_shapes"), py::arg("level_start_index"), py::arg("sampling_loc"), py::arg("attn_weight"),
        py::arg("grad_output"), py::call_guard<py::gil_scoped_release>());
#else
  m.attr("with_cuda") = false;
#endif
}
