// CPU kernel of multi-scale deformable attention (float32 / float64), forward and backward.
//
// Work items are (n, m, q) triples, q fastest, so that consecutive items read the same head's value slice
// (S x D with row stride M * D). Items are split into contiguous chunks processed in parallel with
// at::parallel_for; the innermost loops run over the D contiguous channels.
// Backward is race-free without atomics: a head whose queries all fall in one chunk is written directly into
// grad_value; a head split across chunks is accumulated in a per-chunk private S x D buffer, and the buffers are
// summed into grad_value afterwards (at most two such buffers per chunk).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "../ms_deform_attn.h"

// The two hot loops are compiled twice on x86-64 Linux with GCC, for AVX2+FMA (x86-64-v3) and for the baseline,
// and the loader picks the best at run time (ifunc), so the extension stays portable across x86 machines.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define VIDSEG_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define VIDSEG_SIMD_CLONES
#endif

namespace vidseg {
namespace {

// Samples x channels below which a parallel chunk is not worth waking another thread for.
constexpr int64_t kMinChunkWork = 8192;

struct Level {
  int64_t h, w, start;
};

struct Dims {
  int64_t N, S, M, D, Lq, L, P;
};

Dims read_dims(const at::Tensor& value, const at::Tensor& sampling_loc) {
  return Dims{value.size(0), value.size(1), value.size(2), value.size(3),
              sampling_loc.size(1), sampling_loc.size(3), sampling_loc.size(4)};
}

std::vector<Level> read_levels(const at::Tensor& spatial_shapes, const at::Tensor& level_start_index, int64_t S) {
  TORCH_CHECK(spatial_shapes.device().is_cpu() && level_start_index.device().is_cpu(),
              "ms_deform_attn (cpu): spatial_shapes and level_start_index must be CPU tensors");
  const at::Tensor shapes = spatial_shapes.contiguous();
  const at::Tensor starts = level_start_index.contiguous();
  const int64_t* sp = shapes.data_ptr<int64_t>();
  const int64_t* st = starts.data_ptr<int64_t>();
  std::vector<Level> levels(static_cast<size_t>(shapes.size(0)));
  for (size_t l = 0; l < levels.size(); ++l) {
    levels[l] = Level{sp[2 * l], sp[2 * l + 1], st[l]};
    TORCH_CHECK(levels[l].h > 0 && levels[l].w > 0 && levels[l].start >= 0 &&
                    levels[l].start + levels[l].h * levels[l].w <= S,
                "ms_deform_attn (cpu): level ", l, " of shape (", levels[l].h, ", ", levels[l].w, ") starting at row ",
                levels[l].start, " does not fit in value with S=", S, " rows");
  }
  return levels;
}

// Bilinear corners of a normalised location on one level (grid_sample, align_corners=False, zero padding).
// row[k] is the value row of corner k (top-left, top-right, bottom-left, bottom-right) or -1 when outside;
// w[k] its weight; frac = {lx, ly, hx, hy}. Returns false when no corner can contribute (and no gradient).
template <typename T>
inline bool corners(T loc_x, T loc_y, const Level& lv, int64_t row[4], T w[4], T frac[4]) {
  const T x = loc_x * static_cast<T>(lv.w) - T(0.5);
  const T y = loc_y * static_cast<T>(lv.h) - T(0.5);
  if (!(x >= T(-1) && y >= T(-1) && x < static_cast<T>(lv.w) && y < static_cast<T>(lv.h))) {
    return false;
  }
  const T fx = std::floor(x);
  const T fy = std::floor(y);
  const int64_t x0 = static_cast<int64_t>(fx);
  const int64_t y0 = static_cast<int64_t>(fy);
  const T lx = x - fx, ly = y - fy, hx = T(1) - lx, hy = T(1) - ly;
  const bool x0_in = x0 >= 0, x1_in = x0 + 1 < lv.w, y0_in = y0 >= 0, y1_in = y0 + 1 < lv.h;
  const int64_t base = lv.start + y0 * lv.w + x0;
  row[0] = (y0_in && x0_in) ? base : -1;
  row[1] = (y0_in && x1_in) ? base + 1 : -1;
  row[2] = (y1_in && x0_in) ? base + lv.w : -1;
  row[3] = (y1_in && x1_in) ? base + lv.w + 1 : -1;
  w[0] = hy * hx;
  w[1] = hy * lx;
  w[2] = ly * hx;
  w[3] = ly * lx;
  frac[0] = lx;
  frac[1] = ly;
  frac[2] = hx;
  frac[3] = hy;
  return true;
}

// s[k] = sum_c g[c] * v_k[c]; `omp simd reduction` lets the compiler vectorise the sums (reassociating them).
template <typename T>
inline void dot4(const T* __restrict__ g, const T* __restrict__ v0, const T* __restrict__ v1,
                 const T* __restrict__ v2, const T* __restrict__ v3, int64_t D, T s[4]) {
  T t0 = 0, t1 = 0, t2 = 0, t3 = 0;
#pragma omp simd reduction(+ : t0, t1, t2, t3)
  for (int64_t c = 0; c < D; ++c) {
    t0 += g[c] * v0[c];
    t1 += g[c] * v1[c];
    t2 += g[c] * v2[c];
    t3 += g[c] * v3[c];
  }
  s[0] = t0;
  s[1] = t1;
  s[2] = t2;
  s[3] = t3;
}

template <typename T>
struct Problem {
  Dims d;
  std::vector<Level> levels;
  const T* value;
  const T* loc;
  const T* attn;
};

// Output rows of queries [q_begin, q_end) of head (n, m).
template <typename T>
VIDSEG_SIMD_CLONES void forward_queries(const Problem<T>& pb, int64_t n, int64_t m, int64_t q_begin, int64_t q_end,
                                        T* out) {
  const Dims& d = pb.d;
  const int64_t MD = d.M * d.D, LP = d.L * d.P;
  const std::vector<T> zeros(static_cast<size_t>(d.D), T(0));
  const T* head = pb.value + n * d.S * MD + m * d.D;
  for (int64_t q = q_begin; q < q_end; ++q) {
    const int64_t qm = (n * d.Lq + q) * d.M + m;
    const T* lq = pb.loc + qm * LP * 2;
    const T* aq = pb.attn + qm * LP;
    T* __restrict__ o = out + qm * d.D;
    std::fill(o, o + d.D, T(0));
    for (int64_t l = 0; l < d.L; ++l) {
      for (int64_t p = 0; p < d.P; ++p) {
        const int64_t i = l * d.P + p;
        int64_t row[4];
        T w[4], frac[4];
        if (!corners(lq[2 * i], lq[2 * i + 1], pb.levels[l], row, w, frac)) continue;
        const T a = aq[i];
        const T* __restrict__ v0 = row[0] >= 0 ? head + row[0] * MD : zeros.data();
        const T* __restrict__ v1 = row[1] >= 0 ? head + row[1] * MD : zeros.data();
        const T* __restrict__ v2 = row[2] >= 0 ? head + row[2] * MD : zeros.data();
        const T* __restrict__ v3 = row[3] >= 0 ? head + row[3] * MD : zeros.data();
        const T c0 = a * w[0], c1 = a * w[1], c2 = a * w[2], c3 = a * w[3];
#pragma omp simd
        for (int64_t c = 0; c < d.D; ++c) {
          o[c] += c0 * v0[c] + c1 * v1[c] + c2 * v2[c] + c3 * v3[c];
        }
      }
    }
  }
}

// Gradients of queries [q_begin, q_end) of head (n, m); grad_value rows go to sink + row * sink_stride.
template <typename T>
VIDSEG_SIMD_CLONES void backward_queries(const Problem<T>& pb, int64_t n, int64_t m, int64_t q_begin, int64_t q_end,
                                         const T* grad_out, T* grad_loc, T* grad_attn, T* sink, int64_t sink_stride) {
  const Dims& d = pb.d;
  const int64_t MD = d.M * d.D, LP = d.L * d.P;
  const std::vector<T> zeros(static_cast<size_t>(d.D), T(0));
  const T* head = pb.value + n * d.S * MD + m * d.D;
  for (int64_t q = q_begin; q < q_end; ++q) {
    const int64_t qm = (n * d.Lq + q) * d.M + m;
    const T* lq = pb.loc + qm * LP * 2;
    const T* aq = pb.attn + qm * LP;
    const T* __restrict__ g = grad_out + qm * d.D;
    T* gl = grad_loc + qm * LP * 2;
    T* ga = grad_attn + qm * LP;
    for (int64_t l = 0; l < d.L; ++l) {
      const Level& lv = pb.levels[l];
      for (int64_t p = 0; p < d.P; ++p) {
        const int64_t i = l * d.P + p;
        int64_t row[4];
        T w[4], frac[4];
        if (!corners(lq[2 * i], lq[2 * i + 1], lv, row, w, frac)) continue;
        const T a = aq[i];
        T s[4];
        dot4(g, row[0] >= 0 ? head + row[0] * MD : zeros.data(), row[1] >= 0 ? head + row[1] * MD : zeros.data(),
             row[2] >= 0 ? head + row[2] * MD : zeros.data(), row[3] >= 0 ? head + row[3] * MD : zeros.data(), d.D,
             s);
        const T lx = frac[0], ly = frac[1], hx = frac[2], hy = frac[3];
        ga[i] = w[0] * s[0] + w[1] * s[1] + w[2] * s[2] + w[3] * s[3];
        gl[2 * i] = a * static_cast<T>(lv.w) * (hy * (s[1] - s[0]) + ly * (s[3] - s[2]));
        gl[2 * i + 1] = a * static_cast<T>(lv.h) * (hx * (s[2] - s[0]) + lx * (s[3] - s[1]));
        for (int k = 0; k < 4; ++k) {
          if (row[k] < 0) continue;
          T* __restrict__ dst = sink + row[k] * sink_stride;
          const T ck = a * w[k];
#pragma omp simd
          for (int64_t c = 0; c < d.D; ++c) dst[c] += ck * g[c];
        }
      }
    }
  }
}

template <typename T>
Problem<T> make_problem(const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
                        const at::Tensor& sampling_loc, const at::Tensor& attn_weight) {
  const Dims d = read_dims(value, sampling_loc);
  return Problem<T>{d, read_levels(spatial_shapes, level_start_index, d.S), value.data_ptr<T>(),
                    sampling_loc.data_ptr<T>(), attn_weight.data_ptr<T>()};
}

template <typename T>
void forward_impl(const Problem<T>& pb, T* out) {
  const Dims& d = pb.d;
  const int64_t total = d.N * d.M * d.Lq;
  if (total == 0) return;
  const int64_t grain = std::max<int64_t>(1, kMinChunkWork / std::max<int64_t>(1, d.L * d.P * d.D));
  at::parallel_for(0, total, grain, [&](int64_t begin, int64_t end) {
    for (int64_t h = begin / d.Lq; h * d.Lq < end; ++h) {
      const int64_t qb = std::max(begin, h * d.Lq) - h * d.Lq;
      const int64_t qe = std::min(end, (h + 1) * d.Lq) - h * d.Lq;
      forward_queries(pb, h / d.M, h % d.M, qb, qe, out);
    }
  });
}

template <typename T>
void backward_impl(const Problem<T>& pb, const T* grad_out, T* grad_value, T* grad_loc, T* grad_attn,
                   const at::TensorOptions& opts) {
  const Dims& d = pb.d;
  const int64_t total = d.N * d.M * d.Lq;
  if (total == 0) return;
  const int64_t work = total * std::max<int64_t>(1, d.L * d.P * d.D);
  const int64_t threads = at::get_num_threads();
  const int64_t K = std::max<int64_t>(1, std::min({threads, total, work / kMinChunkWork}));
  auto chunk_begin = [&](int64_t k) { return total * k / K; };
  // Heads shared between chunks get a private buffer: slot[k] = {slot of first head, slot of last head} or -1.
  std::vector<std::array<int64_t, 2>> slot(static_cast<size_t>(K), {-1, -1});
  std::vector<int64_t> slot_head;
  for (int64_t k = 0; k < K; ++k) {
    const int64_t b = chunk_begin(k), e = chunk_begin(k + 1);
    if (b == e) continue;
    const int64_t hb = b / d.Lq, he = (e - 1) / d.Lq;
    if (b > hb * d.Lq || e < (hb + 1) * d.Lq) {
      slot[k][0] = static_cast<int64_t>(slot_head.size());
      slot_head.push_back(hb);
    }
    if (he != hb && e < (he + 1) * d.Lq) {
      slot[k][1] = static_cast<int64_t>(slot_head.size());
      slot_head.push_back(he);
    }
  }
  const int64_t n_slots = static_cast<int64_t>(slot_head.size());
  at::Tensor buffers = at::zeros({n_slots, d.S, d.D}, opts);
  T* buf = buffers.data_ptr<T>();
  const int64_t MD = d.M * d.D;
  at::parallel_for(0, K, 1, [&](int64_t kb, int64_t ke) {
    for (int64_t k = kb; k < ke; ++k) {
      const int64_t b = chunk_begin(k), e = chunk_begin(k + 1);
      if (b == e) continue;
      const int64_t hb = b / d.Lq, he = (e - 1) / d.Lq;
      for (int64_t h = hb; h <= he; ++h) {
        const int64_t n = h / d.M, m = h % d.M;
        const int64_t qb = std::max(b, h * d.Lq) - h * d.Lq;
        const int64_t qe = std::min(e, (h + 1) * d.Lq) - h * d.Lq;
        const int64_t s = h == hb ? slot[k][0] : (h == he ? slot[k][1] : -1);
        T* sink = s >= 0 ? buf + s * d.S * d.D : grad_value + n * d.S * MD + m * d.D;
        backward_queries(pb, n, m, qb, qe, grad_out, grad_loc, grad_attn, sink, s >= 0 ? d.D : MD);
      }
    }
  });
  if (n_slots == 0) return;
  at::parallel_for(0, d.S, 16, [&](int64_t sb, int64_t se) {
    for (int64_t s = 0; s < n_slots; ++s) {
      const int64_t n = slot_head[s] / d.M, m = slot_head[s] % d.M;
      for (int64_t r = sb; r < se; ++r) {
        T* __restrict__ dst = grad_value + (n * d.S + r) * MD + m * d.D;
        const T* __restrict__ src = buf + (s * d.S + r) * d.D;
        for (int64_t c = 0; c < d.D; ++c) dst[c] += src[c];
      }
    }
  });
}

void check_cpu(const at::Tensor& value) {
  TORCH_CHECK(value.device().is_cpu(), "ms_deform_attn (cpu): expected CPU tensors, got ", value.device());
  TORCH_CHECK(value.scalar_type() == at::kFloat || value.scalar_type() == at::kDouble,
              "ms_deform_attn (cpu): the CPU kernel supports float32/float64, got ", value.scalar_type());
}

}  // namespace

at::Tensor ms_deform_attn_forward_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                      const at::Tensor& level_start_index, const at::Tensor& sampling_loc,
                                      const at::Tensor& attn_weight) {
  check_ms_deform_attn_inputs(value, spatial_shapes, level_start_index, sampling_loc, attn_weight);
  check_cpu(value);
  const at::Tensor v = value.contiguous(), loc = sampling_loc.contiguous(), aw = attn_weight.contiguous();
  const Dims d = read_dims(v, loc);
  at::Tensor out = at::empty({d.N, d.Lq, d.M * d.D}, v.options());
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "ms_deform_attn_forward_cpu", [&] {
    const Problem<scalar_t> pb = make_problem<scalar_t>(v, spatial_shapes, level_start_index, loc, aw);
    forward_impl(pb, out.data_ptr<scalar_t>());
  });
  return out;
}

std::vector<at::Tensor> ms_deform_attn_backward_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                                    const at::Tensor& level_start_index,
                                                    const at::Tensor& sampling_loc, const at::Tensor& attn_weight,
                                                    const at::Tensor& grad_output) {
  check_ms_deform_attn_inputs(value, spatial_shapes, level_start_index, sampling_loc, attn_weight);
  check_cpu(value);
  const at::Tensor v = value.contiguous(), loc = sampling_loc.contiguous(), aw = attn_weight.contiguous();
  const Dims d = read_dims(v, loc);
  TORCH_CHECK(grad_output.numel() == d.N * d.Lq * d.M * d.D && grad_output.scalar_type() == v.scalar_type(),
              "ms_deform_attn (cpu): grad_output must be N x Lq x (M*D) of the value dtype, got ", grad_output.sizes());
  const at::Tensor g = grad_output.contiguous();
  at::Tensor grad_value = at::zeros_like(v);
  at::Tensor grad_loc = at::zeros_like(loc);
  at::Tensor grad_attn = at::zeros_like(aw);
  AT_DISPATCH_FLOATING_TYPES(v.scalar_type(), "ms_deform_attn_backward_cpu", [&] {
    const Problem<scalar_t> pb = make_problem<scalar_t>(v, spatial_shapes, level_start_index, loc, aw);
    backward_impl(pb, g.data_ptr<scalar_t>(), grad_value.data_ptr<scalar_t>(), grad_loc.data_ptr<scalar_t>(),
                  grad_attn.data_ptr<scalar_t>(), v.options());
  });
  return {grad_value, grad_loc, grad_attn};
}

}  // namespace vidseg
