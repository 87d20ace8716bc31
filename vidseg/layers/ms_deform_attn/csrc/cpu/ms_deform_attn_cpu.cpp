// CPU kernel of multi-scale deformable attention, forward and backward. Storage float64 / float32 / bfloat16 /
// float16; arithmetic in at::opmath_type (float64 for float64, float32 otherwise), so reduced-precision inputs
// accumulate in float32.
//
// Work items are (n, m, q) triples, q fastest, so that consecutive items read the same head's value slice
// (S x D with row stride M * D). Items are split into contiguous chunks processed in parallel with
// at::parallel_for; the innermost loops run over the D contiguous channels. Those loops are instantiated with a
// compile-time trip count for D = 16, 32 (Deformable DETR / Mask2Former: 8 heads x 32 = 256) and 64, which lets
// the compiler keep a query's channels in vector registers; other D use the same code with a run-time count.
// Backward reads each corner row once: one pass over the channels computes the four dot products with the output
// gradient (for the location / weight gradients) and scatters the four value-gradient rows. It is race-free
// without atomics: a head whose queries all fall in one chunk is written directly into the value gradient; a head
// split across chunks is accumulated in a per-chunk private S x D buffer, and the buffers are summed afterwards
// (at most two such buffers per chunk). The value gradient is accumulated in the arithmetic type (a float32
// buffer for bfloat16 / float16, converted once at the end).
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <type_traits>
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

// Element strides of an N x S x M x D tensor (D contiguous); the kernels work on head-major (N x M x S x D) copies.
struct Strides {
  int64_t n, s, m;
  Strides(const at::Tensor& t) : n(t.stride(0)), s(t.stride(1)), m(t.stride(2)) {}
  int64_t head(int64_t nn, int64_t mm) const { return nn * n + mm * m; }
};

template <typename T>
struct Problem {
  Dims d;
  std::vector<Level> levels;
  const T* value;
  Strides vs;
  const T* loc;
  const T* attn;
};

// Calls f(std::integral_constant<int64_t, D>) for the channel counts with a compiled-in trip count, else with 0
// (run-time D).
template <typename F>
void with_channels(int64_t D, F&& f) {
  switch (D) {
    case 16: f(std::integral_constant<int64_t, 16>{}); break;
    case 32: f(std::integral_constant<int64_t, 32>{}); break;
    case 64: f(std::integral_constant<int64_t, 64>{}); break;
    default: f(std::integral_constant<int64_t, 0>{}); break;
  }
}

#if defined(__GNUC__) || defined(__clang__)
#define VIDSEG_PREFETCH(ptr, rw) __builtin_prefetch((ptr), (rw), 3)
#else
#define VIDSEG_PREFETCH(ptr, rw) ((void)0)
#endif

// Prefetches the rows (D elements at row stride `stride` from `base`) that the samples of query row `qm` will touch.
// The samples are scattered over the value map, so without this every sample waits for its four rows; issued one
// query ahead, the loads overlap the arithmetic of the current query. rw = 1 prefetches for writing.
template <int rw, typename T, typename E>
inline void prefetch_rows(const Problem<T>& pb, int64_t qm, const E* base, int64_t stride, int64_t D) {
  const Dims& d = pb.d;
  const T* lq = pb.loc + qm * d.L * d.P * 2;
  constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(E));  // elements per cache line
  for (int64_t l = 0; l < d.L; ++l) {
    const Level& lv = pb.levels[l];
    for (int64_t p = 0; p < d.P; ++p) {
      const int64_t i = l * d.P + p;
      const float x = static_cast<float>(lq[2 * i]) * static_cast<float>(lv.w) - 0.5f;
      const float y = static_cast<float>(lq[2 * i + 1]) * static_cast<float>(lv.h) - 0.5f;
      if (!(x >= -1.f && y >= -1.f && x < static_cast<float>(lv.w) && y < static_cast<float>(lv.h))) continue;
      const int64_t x0 = std::max<int64_t>(0, std::min<int64_t>(static_cast<int64_t>(std::floor(x)), lv.w - 2));
      const int64_t y0 = std::max<int64_t>(0, std::min<int64_t>(static_cast<int64_t>(std::floor(y)), lv.h - 2));
      const int64_t r = lv.start + y0 * lv.w + x0;
      const int64_t rows[4] = {r, r + 1, r + lv.w, r + lv.w + 1};
      for (int64_t k = 0; k < 4; ++k) {
        if (rows[k] >= lv.start + lv.h * lv.w) continue;
        for (int64_t c = 0; c < D; c += kLine) VIDSEG_PREFETCH(base + rows[k] * stride + c, rw);
      }
    }
  }
}

// Output rows of queries [q_begin, q_end) of head (n, m); kD is D when compiled in, else 0.
template <int64_t kD, typename T>
VIDSEG_SIMD_CLONES void forward_queries(const Problem<T>& pb, int64_t n, int64_t m, int64_t q_begin, int64_t q_end,
                                        T* out) {
  using A = at::opmath_type<T>;
  const Dims& d = pb.d;
  const int64_t D = kD > 0 ? kD : d.D;
  const int64_t LP = d.L * d.P;
  const std::vector<T> zeros(static_cast<size_t>(D), T(0));
  std::vector<A> acc_heap(kD > 0 ? 0 : static_cast<size_t>(D));
  alignas(64) A acc_fixed[kD > 0 ? kD : 1];
  A* __restrict__ acc = kD > 0 ? acc_fixed : acc_heap.data();
  const T* head = pb.value + pb.vs.head(n, m);
  const int64_t RS = pb.vs.s;
  for (int64_t q = q_begin; q < q_end; ++q) {
    const int64_t qm = (n * d.Lq + q) * d.M + m;
    const T* lq = pb.loc + qm * LP * 2;
    const T* aq = pb.attn + qm * LP;
    if (q + 1 < q_end) prefetch_rows<0>(pb, qm + d.M, head, RS, D);
    for (int64_t c = 0; c < D; ++c) acc[c] = A(0);
    for (int64_t l = 0; l < d.L; ++l) {
      for (int64_t p = 0; p < d.P; ++p) {
        const int64_t i = l * d.P + p;
        int64_t row[4];
        A w[4], frac[4];
        if (!corners(static_cast<A>(lq[2 * i]), static_cast<A>(lq[2 * i + 1]), pb.levels[l], row, w, frac)) {
          continue;
        }
        const A a = static_cast<A>(aq[i]);
        const T* __restrict__ v0 = row[0] >= 0 ? head + row[0] * RS : zeros.data();
        const T* __restrict__ v1 = row[1] >= 0 ? head + row[1] * RS : zeros.data();
        const T* __restrict__ v2 = row[2] >= 0 ? head + row[2] * RS : zeros.data();
        const T* __restrict__ v3 = row[3] >= 0 ? head + row[3] * RS : zeros.data();
        const A c0 = a * w[0], c1 = a * w[1], c2 = a * w[2], c3 = a * w[3];
#pragma omp simd
        for (int64_t c = 0; c < D; ++c) {
          acc[c] += c0 * static_cast<A>(v0[c]) + c1 * static_cast<A>(v1[c]) + c2 * static_cast<A>(v2[c]) +
                    c3 * static_cast<A>(v3[c]);
        }
      }
    }
    T* __restrict__ o = out + qm * d.D;
    for (int64_t c = 0; c < D; ++c) o[c] = static_cast<T>(acc[c]);
  }
}

// Gradients of queries [q_begin, q_end) of head (n, m); value-gradient rows go to sink + row * sink_stride.
template <int64_t kD, typename T>
VIDSEG_SIMD_CLONES void backward_queries(const Problem<T>& pb, int64_t n, int64_t m, int64_t q_begin, int64_t q_end,
                                         const T* grad_out, T* grad_loc, T* grad_attn, at::opmath_type<T>* sink,
                                         int64_t sink_stride) {
  using A = at::opmath_type<T>;
  const Dims& d = pb.d;
  const int64_t D = kD > 0 ? kD : d.D;
  const int64_t LP = d.L * d.P;
  const std::vector<T> zeros(static_cast<size_t>(D), T(0));
  std::vector<A> trash(static_cast<size_t>(4 * D));  // write targets of corners outside the map, never read
  std::vector<A> g_heap(kD > 0 ? 0 : static_cast<size_t>(D));
  alignas(64) A g_fixed[kD > 0 ? kD : 1];
  A* __restrict__ g = kD > 0 ? g_fixed : g_heap.data();
  const T* head = pb.value + pb.vs.head(n, m);
  const int64_t RS = pb.vs.s;
  for (int64_t q = q_begin; q < q_end; ++q) {
    const int64_t qm = (n * d.Lq + q) * d.M + m;
    const T* lq = pb.loc + qm * LP * 2;
    const T* aq = pb.attn + qm * LP;
    const T* go = grad_out + qm * d.D;
    for (int64_t c = 0; c < D; ++c) g[c] = static_cast<A>(go[c]);
    if (q + 1 < q_end) {
      prefetch_rows<0>(pb, qm + d.M, head, RS, D);
      prefetch_rows<1>(pb, qm + d.M, sink, sink_stride, D);
    }
    T* gl = grad_loc + qm * LP * 2;
    T* ga = grad_attn + qm * LP;
    for (int64_t l = 0; l < d.L; ++l) {
      const Level& lv = pb.levels[l];
      for (int64_t p = 0; p < d.P; ++p) {
        const int64_t i = l * d.P + p;
        int64_t row[4];
        A w[4], frac[4];
        if (!corners(static_cast<A>(lq[2 * i]), static_cast<A>(lq[2 * i + 1]), lv, row, w, frac)) {
          ga[i] = gl[2 * i] = gl[2 * i + 1] = T(0);
          continue;
        }
        const A a = static_cast<A>(aq[i]);
        const T* __restrict__ v0 = row[0] >= 0 ? head + row[0] * RS : zeros.data();
        const T* __restrict__ v1 = row[1] >= 0 ? head + row[1] * RS : zeros.data();
        const T* __restrict__ v2 = row[2] >= 0 ? head + row[2] * RS : zeros.data();
        const T* __restrict__ v3 = row[3] >= 0 ? head + row[3] * RS : zeros.data();
        A* __restrict__ d0 = row[0] >= 0 ? sink + row[0] * sink_stride : trash.data();
        A* __restrict__ d1 = row[1] >= 0 ? sink + row[1] * sink_stride : trash.data() + D;
        A* __restrict__ d2 = row[2] >= 0 ? sink + row[2] * sink_stride : trash.data() + 2 * D;
        A* __restrict__ d3 = row[3] >= 0 ? sink + row[3] * sink_stride : trash.data() + 3 * D;
        const A c0 = a * w[0], c1 = a * w[1], c2 = a * w[2], c3 = a * w[3];
        A s0 = 0, s1 = 0, s2 = 0, s3 = 0;  // s_k = <grad_out, v_k>
#pragma omp simd reduction(+ : s0, s1, s2, s3)
        for (int64_t c = 0; c < D; ++c) {
          const A gc = g[c];
          s0 += gc * static_cast<A>(v0[c]);
          s1 += gc * static_cast<A>(v1[c]);
          s2 += gc * static_cast<A>(v2[c]);
          s3 += gc * static_cast<A>(v3[c]);
          d0[c] += c0 * gc;
          d1[c] += c1 * gc;
          d2[c] += c2 * gc;
          d3[c] += c3 * gc;
        }
        const A lx = frac[0], ly = frac[1], hx = frac[2], hy = frac[3];
        ga[i] = static_cast<T>(w[0] * s0 + w[1] * s1 + w[2] * s2 + w[3] * s3);
        gl[2 * i] = static_cast<T>(a * static_cast<A>(lv.w) * (hy * (s1 - s0) + ly * (s3 - s2)));
        gl[2 * i + 1] = static_cast<T>(a * static_cast<A>(lv.h) * (hx * (s2 - s0) + lx * (s3 - s1)));
      }
    }
  }
}

template <typename T>
Problem<T> make_problem(const at::Tensor& value, const at::Tensor& spatial_shapes, const at::Tensor& level_start_index,
                        const at::Tensor& sampling_loc, const at::Tensor& attn_weight) {
  const Dims d = read_dims(value, sampling_loc);
  return Problem<T>{d, read_levels(spatial_shapes, level_start_index, d.S), value.data_ptr<T>(), Strides(value),
                    sampling_loc.data_ptr<T>(), attn_weight.data_ptr<T>()};
}

template <typename T>
void forward_impl(const Problem<T>& pb, T* out) {
  const Dims& d = pb.d;
  const int64_t total = d.N * d.M * d.Lq;
  if (total == 0) return;
  const int64_t grain = std::max<int64_t>(1, kMinChunkWork / std::max<int64_t>(1, d.L * d.P * d.D));
  with_channels(d.D, [&](auto kd) {
    at::parallel_for(0, total, grain, [&](int64_t begin, int64_t end) {
      for (int64_t h = begin / d.Lq; h * d.Lq < end; ++h) {
        const int64_t qb = std::max(begin, h * d.Lq) - h * d.Lq;
        const int64_t qe = std::min(end, (h + 1) * d.Lq) - h * d.Lq;
        forward_queries<decltype(kd)::value>(pb, h / d.M, h % d.M, qb, qe, out);
      }
    });
  });
}

// grad_value: N x S x M x D with strides gv, in the arithmetic type A (== T for float32 / float64), zeroed.
template <typename T>
void backward_impl(const Problem<T>& pb, const T* grad_out, at::opmath_type<T>* grad_value, const Strides& gv,
                   T* grad_loc, T* grad_attn, const at::TensorOptions& acc_opts) {
  using A = at::opmath_type<T>;
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
  at::Tensor buffers = at::zeros({n_slots, d.S, d.D}, acc_opts);
  A* buf = buffers.data_ptr<A>();
  with_channels(d.D, [&](auto kd) {
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
          A* sink = s >= 0 ? buf + s * d.S * d.D : grad_value + gv.head(n, m);
          backward_queries<decltype(kd)::value>(pb, n, m, qb, qe, grad_out, grad_loc, grad_attn, sink,
                                                s >= 0 ? d.D : gv.s);
        }
      }
    });
  });
  if (n_slots == 0) return;
  at::parallel_for(0, d.S, 16, [&](int64_t sb, int64_t se) {
    for (int64_t s = 0; s < n_slots; ++s) {
      const int64_t n = slot_head[s] / d.M, m = slot_head[s] % d.M;
      for (int64_t r = sb; r < se; ++r) {
        A* __restrict__ dst = grad_value + gv.head(n, m) + r * gv.s;
        const A* __restrict__ src = buf + (s * d.S + r) * d.D;
        for (int64_t c = 0; c < d.D; ++c) dst[c] += src[c];
      }
    }
  });
}

void check_cpu(const at::Tensor& value) {
  TORCH_CHECK(value.device().is_cpu(), "ms_deform_attn (cpu): expected CPU tensors, got ", value.device());
  const at::ScalarType t = value.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kDouble || t == at::kBFloat16 || t == at::kHalf,
              "ms_deform_attn (cpu): the CPU kernel supports float32/float64/bfloat16/float16, got ", t);
}


// N x S x M x D view of a head-major (N x M x S x D contiguous) copy of `value`: a head's rows are then one
// contiguous S x D block, which the random sampling reads with far fewer cache and TLB misses.
at::Tensor head_major(const at::Tensor& value) { return value.transpose(1, 2).contiguous().transpose(1, 2); }

}  // namespace

at::Tensor ms_deform_attn_forward_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                                      const at::Tensor& level_start_index, const at::Tensor& sampling_loc,
                                      const at::Tensor& attn_weight) {
  check_ms_deform_attn_inputs(value, spatial_shapes, level_start_index, sampling_loc, attn_weight);
  check_cpu(value);
  const at::Tensor v = head_major(value), loc = sampling_loc.contiguous(), aw = attn_weight.contiguous();
  const Dims d = read_dims(v, loc);
  at::Tensor out = at::empty({d.N, d.Lq, d.M * d.D}, v.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, v.scalar_type(), "ms_deform_attn_forward_cpu", [&] {
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
  const at::Tensor v = head_major(value), loc = sampling_loc.contiguous(), aw = attn_weight.contiguous();
  const Dims d = read_dims(v, loc);
  TORCH_CHECK(grad_output.numel() == d.N * d.Lq * d.M * d.D && grad_output.scalar_type() == v.scalar_type(),
              "ms_deform_attn (cpu): grad_output must be N x Lq x (M*D) of the value dtype, got ", grad_output.sizes());
  const at::Tensor g = grad_output.contiguous();
  const at::ScalarType acc_type = at::toOpMathType(v.scalar_type());
  // Accumulated head-major in the arithmetic type, returned as N x S x M x D contiguous of the value dtype.
  at::Tensor grad_value = at::zeros({d.N, d.M, d.S, d.D}, v.options().dtype(acc_type)).transpose(1, 2);
  at::Tensor grad_loc = at::empty_like(loc);
  at::Tensor grad_attn = at::empty_like(aw);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, v.scalar_type(), "ms_deform_attn_backward_cpu", [&] {
    using A = at::opmath_type<scalar_t>;
    const Problem<scalar_t> pb = make_problem<scalar_t>(v, spatial_shapes, level_start_index, loc, aw);
    backward_impl(pb, g.data_ptr<scalar_t>(), grad_value.data_ptr<A>(), Strides(grad_value),
                  grad_loc.data_ptr<scalar_t>(), grad_attn.data_ptr<scalar_t>(), grad_value.options());
  });
  return {at::empty(v.sizes(), v.options()).copy_(grad_value), grad_loc, grad_attn};
}

}  // namespace vidseg
