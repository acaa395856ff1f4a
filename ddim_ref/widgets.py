"""ipywidgets explorers built on the pure `plotting.make_*_figure` functions. One or more per notebook.

Pattern: controls + an `Output` that redraws the figure of the current control values; the
notebook first shows the default figure statically (readable on GitHub), then the explorer.
"""

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from . import plotting


def figure_explorer(make_figure, controls):
    """A VBox of `controls` (dict name -> widget) and the figure make_figure(**values), redrawn on change."""
    out = widgets.Output()

    def draw(change=None):
        with out:
            out.clear_output(wait=True)
            fig = make_figure(**{name: w.value for name, w in controls.items()})
            display(fig)
            plt.close(fig)

    for w in controls.values():
        w.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox(list(controls.values())), out])


def timesteps_explorer(T_options=(1000, 500, 100)):
    """Explorer of tau = schedules.timesteps(T, S, spacing) on the alpha_t curve (plotting.make_timesteps_figure). notebooks/00."""
    controls = {
        "S": widgets.IntSlider(value=10, min=1, max=100, description="S", continuous_update=False),
        "spacing": widgets.Dropdown(options=["uniform", "quadratic", "trailing", "linspace"], value="uniform",
                                    description="spacing"),
        "schedule": widgets.Dropdown(options=["linear", "cosine"], value="linear", description="schedule"),
        "T": widgets.Dropdown(options=list(T_options), value=T_options[0], description="T"),
    }
    return figure_explorer(lambda S, spacing, schedule, T: plotting.make_timesteps_figure(T, min(S, T), spacing, schedule),
                           controls)


def noising_explorer(x0, T=1000, seed=0):
    """Explorer of x_t ~ q(x_t | x_0), eq. (4), over t and the schedule (plotting.make_noising_figure). notebooks/01."""
    controls = {
        "t": widgets.IntSlider(value=250, min=0, max=T, step=1, description="t", continuous_update=False),
        "schedule": widgets.Dropdown(options=["linear", "cosine"], value="linear", description="schedule"),
    }
    return figure_explorer(lambda t, schedule: plotting.make_noising_figure(x0, t, schedule, T, seed), controls)


def toy_sampling_explorer(eps_model, alpha_bar, data, n=1000, seed=0):
    """Explorer of 2-D toy samples by eq. (12) over S, eta and the spacing (plotting.make_toy_sampling_figure). notebooks/06."""
    T = len(alpha_bar) - 1
    controls = {
        "S": widgets.IntSlider(value=50, min=1, max=min(200, T), description="S", continuous_update=False),
        "eta": widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.1, description="eta", continuous_update=False),
        "spacing": widgets.Dropdown(options=["uniform", "quadratic", "trailing", "linspace"], value="uniform",
                                    description="spacing"),
    }
    return figure_explorer(
        lambda S, eta, spacing: plotting.make_toy_sampling_figure(eps_model, alpha_bar, data, S, eta, spacing, n, seed),
        controls)


def eta_trajectories_explorer(n_paths=10, S=100):
    """Slider over eta (eq. 16) redrawing 1-D trajectories of eq. (12) from fixed x_T. notebooks/02."""
    controls = {"eta": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="eta", continuous_update=False),
                "seed": widgets.IntSlider(value=0, min=0, max=9, description="seed", continuous_update=False)}
    return figure_explorer(lambda eta, seed: plotting.make_eta_trajectories_figure(etas=(eta,), n_paths=n_paths, S=S, seed=seed),
                           controls)


def theorem1_gamma_explorer(alpha_bar, sigma_1=None):
    """Slider over eta redrawing Theorem 1's gamma_t next to eta = 1 (DDPM's weights). notebooks/03."""
    controls = {"eta": widgets.FloatSlider(value=0.5, min=0.05, max=1.0, step=0.05, description="eta", continuous_update=False),
                "normalise": widgets.Checkbox(value=False, description="divide by mean")}
    return figure_explorer(lambda eta, normalise: plotting.make_theorem1_gamma_figure(alpha_bar, (eta, 1.0), sigma_1, normalise),
                           controls)


def tau_spacing_explorer(T=1000):
    """Explorer of the sub-sequence tau: slider for S, dropdown for the spacing (section 4.2). notebooks/04."""
    from . import schedules

    controls = {
        "S": widgets.IntSlider(value=10, min=2, max=100, description="S", continuous_update=False),
        "spacing": widgets.Dropdown(options=list(schedules.SPACINGS), value="uniform", description="spacing"),
    }
    return figure_explorer(lambda S, spacing: plotting.make_tau_spacing_figure(S, spacing, T), controls)


def sample_bank_explorer(bank, S=None, variant=None):
    """Explorer of precomputed MNIST sample grids bank[(S, variant)]: sliders for S and eta / sigma-hat. notebooks/04."""
    S_values = sorted({s for s, _ in bank})
    variants = list(dict.fromkeys(v for _, v in bank))
    controls = {
        "S": widgets.SelectionSlider(options=S_values, value=S if S is not None else S_values[0], description="S",
                                     continuous_update=False),
        "variant": widgets.SelectionSlider(options=variants, value=variant if variant is not None else variants[0],
                                           description="eta", continuous_update=False),
    }
    return figure_explorer(lambda S, variant: plotting.make_sample_bank_figure(bank, S, variant), controls)


def ode_flow_explorer(gaussian, n_paths=8):
    """Explorer of DDIM as an Euler method for the ODE (14) on 2-D Gaussian data: slider for S, dropdown for the spacing. notebooks/05."""
    from . import schedules

    controls = {
        "S": widgets.IntSlider(value=10, min=2, max=100, description="S", continuous_update=False),
        "spacing": widgets.Dropdown(options=list(schedules.SPACINGS), value="uniform", description="spacing"),
    }
    return figure_explorer(lambda S, spacing: plotting.make_ode_flow_figure(gaussian, S, spacing, n_paths), controls)


def guidance_explorer(model, alpha_bar, n=8, seed=0, ws=(0.0, 0.5, 1.0, 2.0, 4.0, 8.0), S_values=(5, 10, 20, 50)):
    """Explorer of classifier-free guided MNIST samples over label, w, S and eta (plotting.make_guided_samples_figure). notebooks/09."""
    controls = {
        "label": widgets.IntSlider(value=3, min=0, max=model.config.num_classes - 1, description="label", continuous_update=False),
        "w": widgets.SelectionSlider(options=list(ws), value=ws[min(2, len(ws) - 1)], description="w", continuous_update=False),
        "S": widgets.SelectionSlider(options=list(S_values), value=20 if 20 in S_values else S_values[0], description="S",
                                     continuous_update=False),
        "eta": widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.25, description="eta", continuous_update=False),
    }
    return figure_explorer(lambda label, w, S, eta: plotting.make_guided_samples_figure(model, alpha_bar, label, w, S, eta, n, seed),
                           controls)
