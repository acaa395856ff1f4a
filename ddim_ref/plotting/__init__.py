"""Pure figure functions `make_*_figure(...) -> Figure` and image-grid helpers, by topic. Used by every notebook.

`from ddim_ref.plotting import make_noising_figure` works for every function; the submodules group
them by the notebooks that use them (images, process: 00-03, sampling: 04-05, training: 06, results: 07 and 06's ablation).
"""

from .images import (  # noqa: F401  (re-exported)
    image_grid,
    save_image_grid,
    make_image_grid_figure,
    make_image_rows_figure,
    make_norm_histogram_figure,
    setup_notebook,
)
from .process import (  # noqa: F401
    make_schedule_figure,
    make_timesteps_figure,
    make_noising_grid_figure,
    make_noising_figure,
    make_moments_comparison_figure,
    make_graphical_models_figure,
    make_eta_trajectories_figure,
    make_marginal_variance_ratio_figure,
    make_theorem1_figure,
    make_theorem1_gamma_figure,
    make_loss_perturbation_figure,
    make_log_snr_spacing_figure,
    make_variance_extremes_figure,
    make_plugin_marginals_figure,
    make_tweedie_figure,
)
from .sampling import (  # noqa: F401
    make_tau_spacing_figure,
    make_error_vs_steps_figure,
    make_variance_ratio_figure,
    make_sample_bank_figure,
    make_sample_bank_overview_figure,
    make_ode_flow_figure,
    make_stored_fid_figure,
    make_inversion_errors_figure,
)
from .training import (  # noqa: F401
    make_loss_curve_figure,
    make_point_clouds_figure,
    make_toy_sampling_figure,
    make_timestep_embedding_figure,
)
from .results import (  # noqa: F401
    make_eps_error_figure,
    make_error_sensitivity_figure,
    make_reconstruction_figure,
    make_spacing_figure,
    make_table1_comparison_figure,
    make_training_frontier_figure,
)
from .solvers import (  # noqa: F401
    make_convergence_figure,
    make_quality_vs_nfe_figure,
    make_prior_mismatch_figure,
    make_prev_rule_figure,
    make_signal_leak_figure,
    make_solver_samples_figure,
)
from .guidance import (  # noqa: F401
    make_guided_mixture_figure,
    make_target_gap_figure,
    make_guidance_tradeoff_figure,
    make_guided_samples_figure,
    make_step_gaps_figure,
    make_edit_tradeoff_figure,
)
