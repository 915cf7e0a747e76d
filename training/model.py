"""The CNN of the design card, over (frames, n_mfcc, 1) MFCC segments."""
from __future__ import annotations

import numpy as np


def build_cnn(input_shape: tuple[int, int, int], n_genres: int, train_x: np.ndarray, learning_rate: float = 1e-3):
    """3 conv blocks (32/64/128), dense 512 and 256, softmax; per-coefficient standardisation inside.

    Batch norm uses momentum 0.9 (not Keras' 0.99): with ~60 steps an epoch, the slower moving
    averages are still far from the batch statistics when early stopping picks its epoch, and the
    model then predicts one genre for everything in inference mode.

    The Normalization layer is adapted on the training segments and saved with the weights, so the
    server feeds raw MFCCs and can never standardise differently from training.
    """
    import keras
    from keras import layers

    normalize = layers.Normalization(axis=2, name="standardize_mfcc")
    normalize.adapt(train_x)

    inputs = keras.Input(shape=input_shape, name="mfcc")
    x = normalize(inputs)
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
        x = layers.Dropout(0.25)(x)
    x = layers.Flatten()(x)
    for units in (512, 256):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Dropout(0.3)(x)
    outputs = layers.Dense(n_genres, activation="softmax", name="genre")(x)

    model = keras.Model(inputs, outputs, name="genre_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def balanced_class_weights(labels: np.ndarray, n_classes: int) -> dict[int, float]:
    """Weight each class by n / (k * count): rare genres count as much as common ones."""
    counts = np.bincount(labels, minlength=n_classes).astype(float)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = len(labels) / (present.sum() * counts[present])
    return {i: float(w) for i, w in enumerate(weights)}
