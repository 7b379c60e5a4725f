using Test
using SKMDCore

@testset "SKMDCore" begin
    @testset "optimal assignment" begin
        C = [4.0 1.0 3.0; 2.0 0.0 5.0; 3.0 2.0 2.0]
        a = optimal_assignment(C)
        @test sort(a) == [1, 2, 3]
        @test sum(C[i, a[i]] for i in 1:3) == 5.0
    end

    @testset "non-finite costs and mismatched samples are refused" begin
        @test_throws ArgumentError optimal_assignment([1.0 NaN; 2.0 3.0])
        @test_throws ArgumentError optimal_assignment([1.0 Inf; 2.0 3.0])
        @test_throws ArgumentError w2_exact(zeros(3, 2), zeros(3, 3))
    end

    @testset "committee forces are batched like the NumPy twin" begin
        B, K, D = 3, 4, 2
        energies = reshape(collect(1.0:(B * K)), B, K)
        forces = reshape(collect(range(-1.0, 1.0; length=B * K * D)), B, K, D)
        energy, force, rho, bias = committee_forces(energies, forces, fill(2.0, B), fill(0.5, B), 1)
        @test size(energy) == (B,) && size(force) == (B, D) && size(rho) == (B,) && size(bias) == (B,)
        plain = committee_forces(energies, forces, zeros(B), fill(0.5, B), 1)
        @test plain[1] ≈ vec(sum(energies; dims=2)) ./ K
        @test all(bias .< 0)
    end

    @testset "w2 of a sample with itself is zero" begin
        x = [0.0 1.0; 2.0 3.0; -1.0 0.5]
        @test w2_exact(x, x[[3, 1, 2], :]) ≈ 0.0 atol=1e-12
        @test w2_exact(x, x .+ [1.0 0.0]) ≈ 1.0 atol=1e-12
    end

    @testset "Stein force with identity descriptors" begin
        d_x = [0.1 0.2]
        d_ens = reshape([0.0 0.0; 1.0 0.5], 1, 2, 2)
        f_ens = reshape([1.0 0.0; 0.0 1.0], 1, 2, 2)
        b = stein_force(d_x, d_ens, f_ens, nothing, [1.0], [0.7], [1.0], [2.0])
        @test size(b) == (1, 2)
        @test all(isfinite, b)
    end

    @testset "h = 0 SKMD is Langevin" begin
        p = quadratic_potential([0.0, 0.0], [1.0 0.0; 0.0 2.0])
        x0 = [0.5 -0.5]
        noise = randn(50, 1, 2)
        ens = reshape([0.1 0.1; -0.2 0.3], 1, 2, 2)
        common = (dt=[0.01], gamma=[1.0], alpha=[1.0], sigma2=[1.0], kT=[1.0], bound=[Inf])
        plain = simulate(p, x0, noise; common...)
        biased = simulate(p, x0, noise; common..., ens_d=ens, ens_f=ens,
                          amplitude=[0.0], bandwidth=[1.0], normalization=[2.0])
        @test plain[1] ≈ biased[1] atol=1e-14
    end

    @testset "Müller–Brown minimum has near-zero force" begin
        p = mueller_brown_potential([-200.0, -100.0, -170.0, 15.0], [-1.0, -1.0, -6.5, 0.7],
                                    [0.0, 0.0, 11.0, 0.6], [-10.0, -10.0, -6.5, 0.7],
                                    [1.0, 0.0, -0.5, -1.0], [0.0, 0.5, 1.5, 1.0])
        E, F = evaluate_potential(p, [-0.558224 1.441726])
        @test E[1, 1] ≈ -146.6995 atol=1e-3
        @test maximum(abs.(F)) < 1e-2
    end
end
