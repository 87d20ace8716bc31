// Multi-scale deformable attention (Deformable DETR formulation): declarations shared by the CPU kernel,
// the CUDA kernel and the Python bindings.
//
// Tensor layout (all kernels):
//   value               N x S x M x D      (S = sum_l H_l * W_l, M heads, D channels per head)
//   spatial_shapes      L x 2   int64      ((H_l, W_l) per level)
//   level_start_index   L       int64      (row of value where level l starts)
//   sampling_loc        N x Lq x M x L x P x 2   ((x, y) in [0, 1] per level; outside = zero padding)
//   attn_weight         N x Lq x M x L x P
//   output              N x Lq x (M * D)
// A point at normalised (x, y) of level l is sampled at pixel (x * W_l - 0.5, y * H_l - 0.5) with bilinear
// interpolation and zero padding, i.e. torch.nn.functional.grid_sample(align_corners=False, padding_mode="zeros").
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace vidseg {

// Shape/dtype checks shared by every kernel; messages name the argument and what was expected.
inline void check_ms_deform_attn_inputs(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                        const at::Tensor& level_start_index, const at::Tensor& sampling_loc,
                                        const at::Tensor& attn_weight) {
  TORCH_CHECK(value.dim() == 4, "ms_deform_attn: value must be N x S x M x D, got ", value.sizes());
  TORCH_CHECK(spatial_shapes.dim() == 2 && spatial_shapes.size(1) == 2,
              "ms_deform_attn: spatial_shapes must be L x 2, got ", spatial_shapes.sizes());
  const int64_t L = spatial_shapes.size(0);
  TORCH_CHECK(level_start_index.dim() == 1 && level_start_index.size(0) == L,
              "ms_deform_attn: level_start_index must have L=", L, " entries, got ", level_start_index.sizes());
  TORCH_CHECK(spatial_shapes.scalar_type() == at::kLong && level_start_index.scalar_type() == at::kLong,
              "ms_deform_attn: spatial_shapes and level_start_index must be int64");
  const int64_t N = value.size(0), M = value.size(2);
  TORCH_CHECK(sampling_loc.dim() == 6 && sampling_loc.size(0) == N && sampling_loc.size(2) == M &&
                  sampling_loc.size(3) == L && sampling_loc.size(5) == 2,
              "ms_deform_attn: sampling_loc must be N x Lq x M x L x P x 2 = ", N, " x Lq x ", M, " x ", L,
              " x P x 2, got ", sampling_loc.sizes());
  TORCH_CHECK(attn_weight.dim() == 5 && attn_weight.size(0) == N && attn_weight.size(1) == sampling_loc.size(1) &&
                  attn_weight.size(2) == M && attn_weight.size(3) == L && attn_weight.size(4) == sampling_loc.size(4),
              "ms_deform_attn: attn_weight must be N x Lq x M x L x P matching sampling_loc ",
              sampling_loc.sizes(), ", got ", attn_weight.sizes());
  TORCH_CHECK(sampling_loc.scalar_type() == value.scalar_type() && attn_weight.scalar_type() == value.scalar_type(),
              "ms_deform_attn: value, sampling_loc and attn_weight must share one dtype, got ", value.scalar_type(),
              ", ", sampling_loc.scalar_type(), ", ", attn_weight.scalar_type());
  TORCH_CHECK(sampling_loc.device() == value.device() && attn_weight.device() == value.device(),
              "ms_deform_attn: value, sampling_loc and attn_weight must be on one device");
}

at::Tensor ms_deform_attn_forward_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                      const at::Tensor& level_start_index, const at::Tensor& sampling_loc,
                                      const at::Tensor& attn_weight);

// Returns {grad_value (N x S x M x D), grad_sampling_loc (N x Lq x M x L x P x 2),
//          grad_attn_weight (N x Lq x M x L x P)}.
std::vector<at::Tensor> ms_deform_attn_backward_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                                    const at::Tensor& level_start_index,
                                                    const at::Tensor& sampling_loc, const at::Tensor& attn_weight,
                                                    const at::Tensor& grad_output);

#ifdef WITH_CUDA
at::Tensor ms_deform_attn_forward_cuda(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                       const at::Tensor& level_start_index, const at::Tensor& sampling_loc,
                                       const at::Tensor& attn_weight);

std::vector<at::Tensor> ms_deform_attn_backward_cuda(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                                     const at::Tensor& level_start_index,
                                                     const at::Tensor& sampling_loc, const at::Tensor& attn_weight,
                                                     const at::Tensor& grad_output);
#endif

}  // namespace vidseg
