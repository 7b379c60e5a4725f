"""
    SKMDCore

Hot loops of skmd: kernel sums, Stein biasing forces, the Euler–Maruyama particle loop for
analytic 2D potentials and small MLP committees, stopping checks, and exact 2-Wasserstein
distances. Every function mirrors `python/skmd/backends/numpy_backend.py` (same arguments,
same array shapes, same step order), so that both backends agree to round-off.

Array conventions (Float64, indices in the same order as the NumPy arrays):
B chains, N frozen members, M descriptor dims, D configuration dims, K committee members, T steps.
"""
module SKMDCore

using LinearAlgebra

export kernel_values, stein_force, simulate, w2_exact, optimal_assignment,
       mueller_brown_potential, quadratic_potential, mlp_potential,
       evaluate_potential, committee_forces

const RULE_FIXED = 0
const RULE_ADAPTIVE = 1
const RULE_PERIODIC = 2
const RULE_THRESHOLD = 3
const STATUS_CAPPED = 0
const STATUS_STOPPED = 1
const STATUS_DIVERGED = 2

# ----------------------------------------------------------------------------- potentials
abstract type AbstractPotential end

"Sum of anisotropic Gaussians in 2D (Müller–Brown form); parameter vectors of equal length."
struct MuellerBrown <: AbstractPotential
    A::Vector{Float64}
    a::Vector{Float64}
    b::Vector{Float64}
    c::Vector{Float64}
    x0::Vector{Float64}
    y0::Vector{Float64}
end

"U(x) = ½ (x − μ)ᵀ P (x − μ) with symmetric precision P (D, D)."
struct Quadratic <: AbstractPotential
    mu::Vector{Float64}
    precision::Matrix{Float64}
end

"Per-chain committees of tanh MLPs plus λ‖x − c‖⁴: W1 (B,K,H,D), b1 (B,K,H), w2 (B,K,H), b2 (B,K)."
struct MLPCommittee <: AbstractPotential
    W1::Array{Float64,4}
    b1::Array{Float64,3}
    w2::Array{Float64,3}
    b2::Matrix{Float64}
    lam::Float64
    center::Vector{Float64}
end

mueller_brown_potential(A, a, b, c, x0, y0) = MuellerBrown(
    Vector{Float64}(A), Vector{Float64}(a), Vector{Float64}(b),
    Vector{Float64}(c), Vector{Float64}(x0), Vector{Float64}(y0))

quadratic_potential(mu, precision) = Quadratic(Vector{Float64}(mu), Matrix{Float64}(precision))

mlp_potential(W1, b1, w2, b2, lam, center) = MLPCommittee(
    Array{Float64,4}(W1), Array{Float64,3}(b1), Array{Float64,3}(w2),
    Matrix{Float64}(b2), Float64(lam), Vector{Float64}(center))

n_models(::AbstractPotential) = 1
n_models(p::MLPCommittee) = size(p.W1, 2)

"Fill energies E (K,) and forces F (K, D) of chain `chain` at x (D,)."
function energy_forces!(E::Vector{Float64}, F::Matrix{Float64}, p::MuellerBrown,
                        x::Vector{Float64}, chain::Int)
    energy = 0.0
    gx = 0.0
    gy = 0.0
    for i in eachindex(p.A)
        dx = x[1] - p.x0[i]
        dy = x[2] - p.y0[i]
        term = p.A[i] * exp(p.a[i] * dx^2 + p.b[i] * dx * dy + p.c[i] * dy^2)
        energy += term
        gx += term * (2 * p.a[i] * dx + p.b[i] * dy)
        gy += term * (p.b[i] * dx + 2 * p.c[i] * dy)
    end
    E[1] = energy
    F[1, 1] = -gx
    F[1, 2] = -gy
    return nothing
end

function energy_forces!(E::Vector{Float64}, F::Matrix{Float64}, p::Quadratic,
                        x::Vector{Float64}, chain::Int)
    r = x .- p.mu
    grad = p.precision * r
    E[1] = 0.5 * dot(r, grad)
    for d in eachindex(x)
        F[1, d] = -grad[d]
    end
    return nothing
end

function energy_forces!(E::Vector{Float64}, F::Matrix{Float64}, p::MLPCommittee,
                        x::Vector{Float64}, chain::Int)
    K = size(p.W1, 2)
    H = size(p.W1, 3)
    D = size(p.W1, 4)
    r2 = 0.0
    for d in 1:D
        r2 += (x[d] - p.center[d])^2
    end
    for k in 1:K
        energy = p.b2[chain, k] + p.lam * r2^2
        for d in 1:D
            F[k, d] = -4 * p.lam * r2 * (x[d] - p.center[d])
        end
        for h in 1:H
            z = p.b1[chain, k, h]
            for d in 1:D
                z += p.W1[chain, k, h, d] * x[d]
            end
            t = tanh(z)
            energy += p.w2[chain, k, h] * t
            g = p.w2[chain, k, h] * (1 - t^2)
            for d in 1:D
                F[k, d] -= g * p.W1[chain, k, h, d]
            end
        end
        E[k] = energy
    end
    return nothing
end

"""
    evaluate_potential(p, x) -> (energies (B, K), forces (B, K, D))

Energies and forces of every chain at x (B, D); chain b uses model b of a per-chain potential.
"""
function evaluate_potential(p::AbstractPotential, x::AbstractMatrix)
    xs = Matrix{Float64}(x)
    B, D = size(xs)
    K = n_models(p)
    energies = zeros(B, K)
    forces = zeros(B, K, D)
    E = zeros(K)
    F = zeros(K, D)
    for chain in 1:B
        energy_forces!(E, F, p, xs[chain, :], chain)
        energies[chain, :] = E
        forces[chain, :, :] = F
    end
    return energies, forces
end

"Committee mean plus the UDD bias for one chain: E (K,), F (K, D) -> (energy, force (D,), rho, bias)."
function committee_chain(E::Vector{Float64}, F::Matrix{Float64}, udd_a::Float64,
                         udd_b::Float64, n_atoms::Int)
    K, D = size(F)
    mean_energy = sum(E) / K
    mean_force = vec(sum(F; dims=1)) ./ K
    variance = 0.0
    minus_grad_variance = zeros(D)
    for k in 1:K
        deviation = E[k] - mean_energy
        variance += 0.5 * deviation^2
        for d in 1:D
            minus_grad_variance[d] += deviation * (F[k, d] - mean_force[d])
        end
    end
    scale = K * n_atoms * udd_b^2
    decay = exp(-variance / scale)
    bias_energy = udd_a * (decay - 1.0)
    d_bias_d_variance = -udd_a / scale * decay
    force = mean_force .+ d_bias_d_variance .* minus_grad_variance
    rho = sqrt(2.0 / (K * n_atoms)) * sqrt(variance)
    return mean_energy + bias_energy, force, rho, bias_energy
end

"""
    committee_forces(energies (B, K), forces (B, K, D), udd_a (B,), udd_b (B,), n_atoms)
        -> (energy (B,), force (B, D), rho (B,), bias_energy (B,))

Committee mean plus the uncertainty-driven (UDD) bias of every chain, the batched shapes of the
NumPy twin. With K = 1 or udd_a = 0 there is no bias.
"""
function committee_forces(energies::AbstractMatrix, forces::AbstractArray, udd_a::AbstractVector,
                          udd_b::AbstractVector, n_atoms::Integer)
    E = Matrix{Float64}(energies)
    F = Array{Float64,3}(forces)
    B, K, D = size(F)
    size(E) == (B, K) || throw(ArgumentError("energies must have shape (B, K) = ($B, $K)"))
    energy = zeros(B)
    force = zeros(B, D)
    rho = zeros(B)
    bias_energy = zeros(B)
    for chain in 1:B
        energy[chain], force[chain, :], rho[chain], bias_energy[chain] = committee_chain(
            E[chain, :], F[chain, :, :], Float64(udd_a[chain]), Float64(udd_b[chain]), Int(n_atoms))
    end
    return energy, force, rho, bias_energy
end

# ----------------------------------------------------------------------------- kernel sums
"""
    kernel_values(d_x (B, M), d_ens (B, N, M), amplitude (B,), bandwidth (B,)) -> (B, N)

Gaussian kernel k(x_j, x) = h exp(−‖d_j − d_x‖² / 2ℓ²).
"""
function kernel_values(d_x::AbstractMatrix, d_ens::AbstractArray, amplitude::AbstractVector,
                       bandwidth::AbstractVector)
    dx = Matrix{Float64}(d_x)
    de = Array{Float64,3}(d_ens)
    B, N, M = size(de)
    out = zeros(B, N)
    for chain in 1:B, j in 1:N
        squared = 0.0
        for m in 1:M
            squared += (de[chain, j, m] - dx[chain, m])^2
        end
        out[chain, j] = amplitude[chain] * exp(-squared / (2 * bandwidth[chain]^2))
    end
    return out
end

"Stein force of one chain with identity descriptors; ens (B, N, D) positions, fens forces."
function stein_identity!(out::Vector{Float64}, x::Vector{Float64}, ens::Array{Float64,3},
                         fens::Array{Float64,3}, chain::Int, amplitude::Float64,
                         bandwidth::Float64, kT::Float64, normalization::Float64)
    N = size(ens, 2)
    D = length(x)
    attraction = zeros(D)
    repulsion = zeros(D)
    for j in 1:N
        squared = 0.0
        for d in 1:D
            squared += (ens[chain, j, d] - x[d])^2
        end
        k = amplitude * exp(-squared / (2 * bandwidth^2))
        for d in 1:D
            attraction[d] += k * fens[chain, j, d]
            repulsion[d] += -(k / bandwidth^2) * (ens[chain, j, d] - x[d])
        end
    end
    for d in 1:D
        out[d] = (attraction[d] + kT * repulsion[d]) / normalization
    end
    return out
end

"""
    stein_force(d_x, d_ens, f_ens, jac_ens, amplitude, bandwidth, kT, normalization) -> (B, D)

SKMD biasing force b(x) = (1/norm) Σ_j [k(x_j, x) F_j + kT ∇_{x_j} k(x_j, x)] with
∇_{x_j} k = −(k/ℓ²) J_jᵀ (d_j − d_x); `jac_ens` (B, N, M, D) or `nothing` for identity.
"""
function stein_force(d_x::AbstractMatrix, d_ens::AbstractArray, f_ens::AbstractArray,
                     jac_ens, amplitude::AbstractVector, bandwidth::AbstractVector,
                     kT::AbstractVector, normalization::AbstractVector)
    dx = Matrix{Float64}(d_x)
    de = Array{Float64,3}(d_ens)
    fe = Array{Float64,3}(f_ens)
    jac = jac_ens === nothing ? nothing : Array{Float64,4}(jac_ens)
    B, N, M = size(de)
    D = size(fe, 3)
    out = zeros(B, D)
    for chain in 1:B
        attraction = zeros(D)
        repulsion = zeros(D)
        for j in 1:N
            squared = 0.0
            for m in 1:M
                squared += (de[chain, j, m] - dx[chain, m])^2
            end
            k = amplitude[chain] * exp(-squared / (2 * bandwidth[chain]^2))
            for d in 1:D
                attraction[d] += k * fe[chain, j, d]
                projected = 0.0
                if jac === nothing
                    projected = de[chain, j, d] - dx[chain, d]
                else
                    for m in 1:M
                        projected += jac[chain, j, m, d] * (de[chain, j, m] - dx[chain, m])
                    end
                end
                repulsion[d] += -(k / bandwidth[chain]^2) * projected
            end
        end
        for d in 1:D
            out[chain, d] = (attraction[d] + kT[chain] * repulsion[d]) / normalization[chain]
        end
    end
    return out
end

# ----------------------------------------------------------------------------- dynamics
"""
    simulate(p, x0, noise; dt, gamma, alpha, sigma2, kT, bound, ens_d, ens_f, amplitude,
             bandwidth, normalization, udd_a, udd_b, udd_atoms, rule, t_min, tau, period,
             threshold, min_gap, max_acquire)

Euler–Maruyama loop of B independent chains, identity descriptors:
x_{t+1} = x_t + (dt/γ)(α F + b) + sqrt(2 σ² dt/γ) ξ_t, with noise (T, B, D) and x0 (B, D).
Per-chain parameters are vectors of length B. `ens_d`/`ens_f` (B, N, D) are the frozen
ensemble (or `nothing`); `udd_a === nothing` disables the UDD bias. Rules: 0 fixed,
1 adaptive stop (first t ≥ t_min with ‖b(x_t)‖ < tau), 2 periodic record every `period`
steps, 3 threshold record when rho(x_t) > threshold and t − t_last ≥ min_gap; rules 2 and 3
stop after `max_acquire` records. Returns (x_end, steps, status, acq_x, acq_step, n_acq,
values) exactly as the NumPy backend does (steps and acq_step count steps from 0).
"""
function simulate(p::AbstractPotential, x0::AbstractMatrix, noise::AbstractArray;
                  dt, gamma, alpha, sigma2, kT, bound,
                  ens_d=nothing, ens_f=nothing, amplitude=nothing, bandwidth=nothing,
                  normalization=nothing, udd_a=nothing, udd_b=nothing, udd_atoms=1,
                  rule=RULE_FIXED, t_min=0, tau=0.0, period=1, threshold=Inf,
                  min_gap=0, max_acquire=0)
    xi = Array{Float64,3}(noise)
    T, B, D = size(xi)
    start = Matrix{Float64}(x0)
    ens = ens_d === nothing ? nothing : Array{Float64,3}(ens_d)
    fens = ens_f === nothing ? nothing : Array{Float64,3}(ens_f)
    rule = Int(rule); t_min = Int(t_min); period = Int(period)
    min_gap = Int(min_gap); max_acquire = Int(max_acquire); udd_atoms = Int(udd_atoms)
    tau = Float64(tau); threshold = Float64(threshold)
    P = max(max_acquire, 1)
    K = n_models(p)

    x_end = zeros(B, D)
    steps = fill(T, B)
    status = fill(STATUS_CAPPED, B)
    acq_x = fill(NaN, B, P, D)
    acq_step = fill(-1, B, P)
    n_acq = zeros(Int, B)
    values = fill(NaN, T, B)
    E = zeros(K)
    F = zeros(K, D)
    bias = zeros(D)

    for chain in 1:B
        x = start[chain, :]
        drift_scale = dt[chain] / gamma[chain]
        noise_scale = sqrt(2.0 * sigma2[chain] * dt[chain] / gamma[chain])
        last_acq = 0
        for t in 0:(T - 1)
            energy_forces!(E, F, p, x, chain)
            if udd_a === nothing
                energy = sum(E) / K
                force = vec(sum(F; dims=1)) ./ K
                rho = 0.0
            else
                energy, force, rho, _ = committee_chain(E, F, Float64(udd_a[chain]),
                                                        Float64(udd_b[chain]), udd_atoms)
            end
            if ens === nothing
                fill!(bias, 0.0)
            else
                stein_identity!(bias, x, ens, fens, chain, Float64(amplitude[chain]),
                                Float64(bandwidth[chain]), Float64(kT[chain]),
                                Float64(normalization[chain]))
            end
            if rule == RULE_ADAPTIVE
                values[t + 1, chain] = norm(bias)
            elseif rule == RULE_THRESHOLD
                values[t + 1, chain] = rho
            end
            if !(isfinite(energy) && all(isfinite, force))
                status[chain] = STATUS_DIVERGED
                steps[chain] = t
                break
            end
            if rule == RULE_ADAPTIVE && t >= t_min && values[t + 1, chain] < tau
                status[chain] = STATUS_STOPPED
                steps[chain] = t
                break
            end
            if rule == RULE_THRESHOLD && rho > threshold && t - last_acq >= min_gap
                n_acq[chain] += 1
                acq_x[chain, n_acq[chain], :] = x
                acq_step[chain, n_acq[chain]] = t
                last_acq = t
                if n_acq[chain] >= max_acquire
                    status[chain] = STATUS_STOPPED
                    steps[chain] = t
                    break
                end
            end
            x_new = similar(x)
            for d in 1:D
                x_new[d] = x[d] + drift_scale * (alpha[chain] * force[d] + bias[d]) +
                           noise_scale * xi[t + 1, chain, d]
            end
            if !all(v -> isfinite(v) && abs(v) <= bound[chain], x_new)
                status[chain] = STATUS_DIVERGED
                steps[chain] = t + 1
                break
            end
            x = x_new
            if rule == RULE_PERIODIC && (t + 1) % period == 0
                n_acq[chain] += 1
                acq_x[chain, n_acq[chain], :] = x
                acq_step[chain, n_acq[chain]] = t + 1
                if n_acq[chain] >= max_acquire
                    status[chain] = STATUS_STOPPED
                    steps[chain] = t + 1
                    break
                end
            end
        end
        x_end[chain, :] = x
    end
    return x_end, steps, status, acq_x, acq_step, n_acq, values
end

# ----------------------------------------------------------------------------- Wasserstein
"""
    optimal_assignment(C) -> Vector{Int}

Minimum-cost perfect matching of a square cost matrix (Hungarian method with potentials,
shortest augmenting paths, O(n³)). Returns `a` with row i matched to column a[i].
Logical column 0 is a dummy; array slot j + 1 holds column j. Throws `ArgumentError` on a
non-square matrix or a NaN/infinite cost (the augmenting search would never end on those).
"""
function optimal_assignment(C::AbstractMatrix)
    cost = Matrix{Float64}(C)
    n = size(cost, 1)
    size(cost, 2) == n || throw(ArgumentError("cost matrix must be square"))
    all(isfinite, cost) || throw(ArgumentError("cost matrix contains NaN or infinite entries"))
    u = zeros(n + 1)
    v = zeros(n + 1)
    p = zeros(Int, n + 1)
    way = zeros(Int, n + 1)
    for i in 1:n
        p[1] = i
        j0 = 0
        minv = fill(Inf, n + 1)
        used = falses(n + 1)
        while true
            used[j0 + 1] = true
            i0 = p[j0 + 1]
            delta = Inf
            j1 = 0
            for j in 1:n
                if !used[j + 1]
                    current = cost[i0, j] - u[i0 + 1] - v[j + 1]
                    if current < minv[j + 1]
                        minv[j + 1] = current
                        way[j + 1] = j0
                    end
                    if minv[j + 1] < delta
                        delta = minv[j + 1]
                        j1 = j
                    end
                end
            end
            for j in 0:n
                if used[j + 1]
                    u[p[j + 1] + 1] += delta
                    v[j + 1] -= delta
                else
                    minv[j + 1] -= delta
                end
            end
            j0 = j1
            p[j0 + 1] == 0 && break
        end
        while true
            j1 = way[j0 + 1]
            p[j0 + 1] = p[j1 + 1]
            j0 = j1
            j0 == 0 && break
        end
    end
    assignment = zeros(Int, n)
    for j in 1:n
        assignment[p[j + 1]] = j
    end
    return assignment
end

"""
    w2_exact(x (n, D), y (n, D)) -> Float64

Exact 2-Wasserstein distance between two equal-size empirical samples.
"""
function w2_exact(x::AbstractMatrix, y::AbstractMatrix)
    xs = Matrix{Float64}(x)
    ys = Matrix{Float64}(y)
    n = size(xs, 1)
    size(ys) == size(xs) || throw(ArgumentError("samples must have the same size and dimension"))
    cost = zeros(n, n)
    for i in 1:n, j in 1:n
        s = 0.0
        for d in 1:size(xs, 2)
            s += (xs[i, d] - ys[j, d])^2
        end
        cost[i, j] = s
    end
    assignment = optimal_assignment(cost)
    total = 0.0
    for i in 1:n
        total += cost[i, assignment[i]]
    end
    return sqrt(total / n)
end

end # module
