// CUDA kernel of multi-scale deformable attention (float32 / float64 / float16 / bfloat16), forward and backward.
//
// Forward: one thread per output element (n, q, m, d); it sums L * P bilinear samples of channel d.
// Backward: one warp per (n, q, m); lanes stride over the D channels. Each lane accumulates its part of the
// dot products needed by grad_attn_weight and grad_sampling_loc, a warp shuffle reduction finishes them (each
// (n, q, m, l, p) gradient has exactly one writer), and grad_value is scattered with atomicAdd into a float32
// (float64 for double) buffer that is cast to the value dtype at the end.
// Only c10 CUDA headers are used (ATen/cuda/CUDAContext.h pulls cusparse.h, absent from some toolkits).
#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "../ms_deform_attn.h"

namespace vidseg {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

template <typename T>
struct AccType {
  using type = float;
};
template <>
struct AccType<double> {
  using type = double;
};

// Bilinear corners (grid_sample, align_corners=False, zero padding); row[k] = -1 for a corner outside the map.
// Returns false when no corner can contribute (and no gradient flows).
template <typename acc_t>
__device__ __forceinline__ bool corners(acc_t loc_x, acc_t loc_y, int64_t h, int64_t w, int64_t start,
                                        int64_t row[4], acc_t wt[4], acc_t frac[4]) {
  const acc_t x = loc_x * static_cast<acc_t>(w) - acc_t(0.5);
  const acc_t y = loc_y * static_cast<acc_t>(h) - acc_t(0.5);
  if (!(x >= acc_t(-1) && y >= acc_t(-1) && x < static_cast<acc_t>(w) && y < static_cast<acc_t>(h))) {
    return false;
  }
  const acc_t fx = floor(x);
  const acc_t fy = floor(y);
  const int64_t x0 = static_cast<int64_t>(fx);
  const int64_t y0 = static_cast<int64_t>(fy);
  const acc_t lx = x - fx, ly = y - fy, hx = acc_t(1) - lx, hy = acc_t(1) - ly;
  const bool x0_in = x0 >= 0, x1_in = x0 + 1 < w, y0_in = y0 >= 0, y1_in = y0 + 1 < h;
  const int64_t base = start + y0 * w + x0;
  row[0] = (y0_in && x0_in) ? base : -1;
  row[1] = (y0_in && x1_in) ? base + 1 : -1;
  row[2] = (y1_in && x0_in) ? base + w : -1;
  row[3] = (y1_in && x1_in) ? base + w + 1 : -1;
  wt[0] = hy * hx;
  wt[1] = hy * lx;
  wt[2] = ly * hx;
  wt[3] = ly * lx;
  frac[0] = lx;
  frac[1] = ly;
  frac[2] = hx;
  frac[3] = hy;
  return true;
}

template <typename acc_t>
__device__ __forceinline__ acc_t warp_sum(acc_t v) {
#pragma unroll
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <typename scalar_t, typename acc_t>
__global__ void forward_kernel(const scalar_t* __restrict__ value, const int64_t* __restrict__ shapes,
                               const int64_t* __restrict__ starts, const scalar_t* __restrict__ loc,
                               const scalar_t* __restrict__ attn, scalar_t* __restrict__ out, int64_t N, int64_t S,
                               int64_t M, int64_t D, int64_t Lq, int64_t L, int64_t P) {
  const int64_t total = N * Lq * M * D;
  for (int64_t idx = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t d = idx % D;
    const int64_t qm = idx / D;  // (n * Lq + q) * M + m
    const int64_t m = qm % M;
    const int64_t n = qm / (M * Lq);
    const scalar_t* lq = loc + qm * L * P * 2;
    const scalar_t* aq = attn + qm * L * P;
    const scalar_t* head = value + (n * S * M + m) * D + d;
    const int64_t MD = M * D;
    acc_t acc = 0;
    for (int64_t l = 0; l < L; ++l) {
      const int64_t h = shapes[2 * l], w = shapes[2 * l + 1], start = starts[l];
      for (int64_t p = 0; p < P; ++p) {
        const int64_t i = l * P + p;
        int64_t row[4];
        acc_t wt[4], frac[4];
        if (!corners<acc_t>(static_cast<acc_t>(lq[2 * i]), static_cast<acc_t>(lq[2 * i + 1]), h, w, start, row, wt,
                            frac)) {
          continue;
        }
        acc_t sample = 0;
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          if (row[k] >= 0) sample += wt[k] * static_cast<acc_t>(head[row[k] * MD]);
        }
        acc += static_cast<acc_t>(aq[i]) * sample;
      }
    }
    out[idx] = static_cast<scalar_t>(acc);
  }
}

template <typename scalar_t, typename acc_t>
__global__ void backward_kernel(const scalar_t* __restrict__ value, const int64_t* __restrict__ shapes,
                                const int64_t* __restrict__ starts, const scalar_t* __restrict__ loc,
                                const scalar_t* __restrict__ attn, const scalar_t* __restrict__ grad_out,
                                acc_t* __restrict__ grad_value, scalar_t* __restrict__ grad_loc,
                                scalar_t* __restrict__ grad_attn, int64_t N, int64_t S, int64_t M, int64_t D,
                                int64_t Lq, int64_t L, int64_t P) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = N * Lq * M;
  const int64_t warp_stride = static_cast<int64_t>(gridDim.x) * (blockDim.x / kWarp);
  // The warp index is uniform across a warp, so every lane takes the same branches around the shuffles.
  for (int64_t qm = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarp; qm < warps;
       qm += warp_stride) {
    const int64_t m = qm % M;
    const int64_t n = qm / (M * Lq);
    const int64_t MD = M * D;
    const scalar_t* lq = loc + qm * L * P * 2;
    const scalar_t* aq = attn + qm * L * P;
    const scalar_t* g = grad_out + qm * D;
    const scalar_t* head = value + (n * S * M + m) * D;
    acc_t* ghead = grad_value + (n * S * M + m) * D;
    for (int64_t l = 0; l < L; ++l) {
      const int64_t h = shapes[2 * l], w = shapes[2 * l + 1], start = starts[l];
      for (int64_t p = 0; p < P; ++p) {
        const int64_t i = l * P + p;
        int64_t row[4];
        acc_t wt[4], frac[4];
        if (!corners<acc_t>(static_cast<acc_t>(lq[2 * i]), static_cast<acc_t>(lq[2 * i + 1]), h, w, start, row, wt,
                            frac)) {
          if (lane == 0) {
            grad_attn[qm * L * P + i] = static_cast<scalar_t>(0);
            grad_loc[(qm * L * P + i) * 2] = static_cast<scalar_t>(0);
            grad_loc[(qm * L * P + i) * 2 + 1] = static_cast<scalar_t>(0);
          }
          continue;
        }
        const acc_t a = static_cast<acc_t>(aq[i]);
        acc_t s[4] = {0, 0, 0, 0};
        for (int64_t c = lane; c < D; c += kWarp) {
          const acc_t gc = static_cast<acc_t>(g[c]);
#pragma unroll
          for (int k = 0; k < 4; ++k) {
            if (row[k] >= 0) {
              s[k] += gc * static_cast<acc_t>(head[row[k] * MD + c]);
              atomicAdd(ghead + row[k] * MD + c, a * wt[k] * gc);
            }
          }
        }
#pragma unroll
        for (int k = 0; k < 4; ++k) s[k] = warp_sum(s[k]);
        if (lane == 0) {
          const acc_t lx = frac[0], ly = frac[1], hx = frac[2], hy = frac[3];
          grad_attn[qm * L * P + i] = static_cast<scalar_t>(wt[0] * s[0] + wt[1] * s[1] + wt[2] * s[2] + wt[3] * s[3]);
          grad_loc[(qm * L * P + i) * 2] =
              static_cast<scalar_t>(a * static_cast<acc_t>(w) * (hy * (s[1] - s[0]) + ly * (s[3] - s[2])));
          grad_loc[(qm * L * P + i) * 2 + 1] =
              static_cast<scalar_t>(a * static_cast<acc_t>(h) * (hx * (s[2] - s[0]) + lx * (s[3] - s[1])));
        }
      }
    }
  }
}

int64_t blocks_for(int64_t threads_needed) {
  const int64_t blocks = (threads_needed + kThreads - 1) / kThreads;
  return std::max<int64_t>(1, std::min<int64_t>(blocks, 65535LL * 32));
}

struct Prepared {
  at::Tensor value, shapes, starts, loc, attn;
  int64_t N, S, M, D, Lq, L, P;
};

Prepared prepare(const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
                 const at::Tensor& sampling_loc, const at::Tensor& attn_weight) {
  check_ms_deform_attn_inputs(value, spatial_shapes, level_start_index, sampling_loc, attn_weight);
  TORCH_CHECK(value.is_cuda(), "ms_deform_attn (cuda): expected CUDA tensors, got ", value.device());
  Prepared pr;
  pr.value = value.contiguous();
  pr.shapes = spatial_shapes.to(value.device()).contiguous();
  pr.starts = level_start_index.to(value.device()).contiguous();
  pr.loc = sampling_loc.contiguous();
  pr.attn = attn_weight.contiguous();
  pr.N = value.size(0);
  pr.S = value.size(1);
  pr.M = value.size(2);
  pr.D = value.size(3);
  pr.Lq = sampling_loc.size(1);
  pr.L = sampling_loc.size(3);
  pr.P = sampling_loc.size(4);
  return pr;
}

}  // namespace

at::Tensor ms_deform_attn_forward_cuda(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                       const at::Tensor& level_start_index, const at::Tensor& sampling_loc,
                                       const at::Tensor& attn_weight) {
  const c10::cuda::CUDAGuard guard(value.device());
  const Prepared pr = prepare(value, spatial_shapes, level_start_index, sampling_loc, attn_weight);
  at::Tensor out = at::empty({pr.N, pr.Lq, pr.M * pr.D}, pr.value.options());
  const int64_t total = pr.N * pr.Lq * pr.M * pr.D;
  if (total == 0) return out;
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, pr.value.scalar_type(), "ms_deform_attn_forward_cuda",
                                  [&] {
                                    using acc_t = typename AccType<scalar_t>::type;
                                    forward_kernel<scalar_t, acc_t><<<blocks_for(total), kThreads, 0, stream>>>(
                                        pr.value.data_ptr<scalar_t>(), pr.shapes.data_ptr<int64_t>(),
                                        pr.starts.data_ptr<int64_t>(), pr.loc.data_ptr<scalar_t>(),
                                        pr.attn.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), pr.N, pr.S, pr.M,
                                        pr.D, pr.Lq, pr.L, pr.P);
                                    C10_CUDA_KERNEL_LAUNCH_CHECK();
                                  });
  return out;
}

std::vector<at::Tensor> ms_deform_attn_backward_cuda(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                                     const at::Tensor& level_start_index,
                                                     const at::Tensor& sampling_loc, const at::Tensor& attn_weight,
                                                     const at::Tensor& grad_output) {
  const c10::cuda::CUDAGuard guard(value.device());
  const Prepared pr = prepare(value, spatial_shapes, level_start_index, sampling_loc, attn_weight);
  TORCH_CHECK(grad_output.numel() == pr.N * pr.Lq * pr.M * pr.D &&
                  grad_output.scalar_type() == pr.value.scalar_type() && grad_output.device() == pr.value.device(),
              "ms_deform_attn (cuda): grad_output must be N x Lq x (M*D) of the value dtype and device, got ",
              grad_output.sizes());
  const at::Tensor g = grad_output.contiguous();
  const bool is_double = pr.value.scalar_type() == at::kDouble;
  at::Tensor grad_value_acc =
      at::zeros(pr.value.sizes(), pr.value.options().dtype(is_double ? at::kDouble : at::kFloat));
  at::Tensor grad_loc = at::empty_like(pr.loc);
  at::Tensor grad_attn = at::empty_like(pr.attn);
  const int64_t warps = pr.N * pr.Lq * pr.M;
  if (warps > 0 && pr.L * pr.P > 0) {
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, pr.value.scalar_type(), "ms_deform_attn_backward_cuda",
                                    [&] {
                                      using acc_t = typename AccType<scalar_t>::type;
                                      backward_kernel<scalar_t, acc_t><<<blocks_for(warps * kWarp), kThreads, 0,
                                                                         stream>>>(
                                          pr.value.data_ptr<scalar_t>(), pr.shapes.data_ptr<int64_t>(),
                                          pr.starts.data_ptr<int64_t>(), pr.loc.data_ptr<scalar_t>(),
                                          pr.attn.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(),
                                          grad_value_acc.data_ptr<acc_t>(), grad_loc.data_ptr<scalar_t>(),
                                          grad_attn.data_ptr<scalar_t>(), pr.N, pr.S, pr.M, pr.D, pr.Lq, pr.L, pr.P);
                                      C10_CUDA_KERNEL_LAUNCH_CHECK();
                                    });
  }
  at::Tensor grad_value = grad_value_acc.scalar_type() == pr.value.scalar_type()
                              ? grad_value_acc
                              : grad_value_acc.to(pr.value.scalar_type());
  return {grad_value, grad_loc, grad_attn};
}

}  // namespace vidseg
