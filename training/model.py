"""The genre models over (frames, n_features, 1) feature segments; standardisation is inside each.

``cnn`` is the design card's 2-D CNN; ``conv1d`` a small 1-D CNN over time with the feature rows as
channels and global pooling (a few ten thousand weights instead of millions); ``stats`` a linear-ish
classifier on the per-row mean and mean square over time. Every model takes raw features, so the
server (TFLite or Keras) feeds exactly what ``mfcc_segments`` returns and nothing else.
"""
from __future__ import annotations

import numpy as np

ARCHITECTURES = ("cnn", "cnn_small", "conv1d", "stats")


def _normalizer(train_x: np.ndarray, name: str = "standardize_features"):
    from keras import layers

    normalize = layers.Normalization(axis=2, name=name)
    normalize.adapt(train_x)
    return normalize


def _pooled_head(x, dropout: float, hidden: int, reg):
    """Mean and max over time, dropout, and an optional hidden layer: the CNNs' way to a decision."""
    from keras import layers

    x = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x)])
    x = layers.Dropout(dropout)(x)
    if hidden:
        x = layers.Dense(hidden, activation="relu", kernel_regularizer=reg)(x)
        x = layers.Dropout(dropout)(x)
    return x


def build_network(arch: str, input_shape: tuple[int, int, int], n_genres: int, train_x: np.ndarray,
                  dropout: float = 0.3, l2: float = 1e-4, hidden: int = 64, drop_c0: bool = False,
                  stats_max: bool = False, name: str = "genre_cnn"):
    """One uncompiled network (softmax output) of the named architecture.

    ``drop_c0``: ignore feature row 0 (MFCC 0, the overall level in dB), so the level itself is no
    genre cue; the deltas of MFCC 0, i.e. the loudness dynamics, stay. (Quiet passages still change
    in other ways with the gain: see docs/experiments.md.)
    """
    import keras
    from keras import layers, regularizers

    reg = regularizers.L2(l2) if l2 else None
    inputs = keras.Input(shape=input_shape, name="mfcc")
    x = _normalizer(train_x)(inputs)
    frames, n_features = input_shape[0], input_shape[1]
    if drop_c0:
        x = layers.Cropping2D(((0, 0), (1, 0)), name="drop_mfcc0")(x)
        n_features -= 1
    if arch == "cnn":
        # Batch norm momentum 0.9 (not 0.99): with ~60 steps an epoch the slower moving averages are
        # still far from the batch statistics when early stopping picks its epoch.
        for filters in (32, 64, 128):
            x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.MaxPooling2D(2, padding="same")(x)
            x = layers.Dropout(0.25)(x)
        x = layers.Flatten()(x)
        for units in (512, 256):
            x = layers.Dense(units, activation="relu")(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Dropout(dropout)(x)
    elif arch == "cnn_small":
        # the 2-D CNN with fewer filters and, instead of Flatten, a mean over time: the position along
        # the feature axis (which coefficient) is kept, the position in time is not
        for filters in (24, 48, 96):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=reg)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
            x = layers.MaxPooling2D(2, padding="same")(x)
            x = layers.Dropout(0.2)(x)
        x = layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)
        x = _pooled_head(x, dropout, hidden, reg)
    elif arch == "conv1d":
        x = layers.Reshape((frames, n_features))(x)
        for filters in (64, 64, 96):
            x = layers.Conv1D(filters, 5, padding="same", use_bias=False, kernel_regularizer=reg)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
            x = layers.MaxPooling1D(2, padding="same")(x)
            x = layers.SpatialDropout1D(0.1)(x)
        x = _pooled_head(x, dropout, hidden, reg)
    elif arch == "stats":
        x = layers.Reshape((frames, n_features))(x)
        squared = layers.Multiply()([x, x])
        pooled = [layers.GlobalAveragePooling1D()(x), layers.GlobalAveragePooling1D()(squared)]
        if stats_max:  # and the maximum over the segment
            pooled.append(layers.GlobalMaxPooling1D()(x))
        x = layers.Concatenate()(pooled)
        x = layers.Dropout(dropout)(x)
        if hidden:  # 0: a linear (multinomial logistic) classifier on the statistics
            x = layers.Dense(hidden, activation="relu", kernel_regularizer=reg)(x)
            x = layers.Dropout(dropout)(x)
    else:
        raise ValueError(f"unknown architecture {arch!r}; choose from {ARCHITECTURES}")
    outputs = layers.Dense(n_genres, activation="softmax", name="genre", kernel_regularizer=reg)(x)
    return keras.Model(inputs, outputs, name=name)


def compile_network(model, learning_rate: float = 1e-3, label_smoothing: float = 0.0):
    import keras

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing),
        metrics=["accuracy"],
    )
    return model


def average_models(models: list, name: str = "genre_cnn"):
    """One Keras model whose output is the mean of ``models``' softmax outputs (a seed ensemble)."""
    import keras
    from keras import layers

    if len(models) == 1:
        return models[0]
    inputs = keras.Input(shape=models[0].input_shape[1:], name="mfcc")
    outputs = [m(inputs) for m in models]
    return keras.Model(inputs, layers.Average(name="genre")(outputs), name=name)
