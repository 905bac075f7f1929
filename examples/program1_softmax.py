"""The lecture's Program 1 (softmax regression) on Fashion-MNIST with `import annc as keras`.
The slides' image grid needs matplotlib; it is drawn only when matplotlib is installed."""
import numpy as np

import annc as keras

(train_input, train_target), (test_input, test_target) = keras.datasets.fashion_mnist.load_data()
print(train_input.shape, train_target.shape)
print(test_input.shape, test_target.shape)

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 10, figsize=(10, 10))
    for i in range(10):
        axs[i].imshow(train_input[i], cmap='gray_r')
        axs[i].axis('off')
    plt.show()
except ImportError:
    pass

print([train_target[i] for i in range(10)])
class_names = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
               'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']
print(np.unique(train_target, return_counts=True))

train_scaled = train_input / 255.0
train_scaled = train_scaled.reshape(-1, 28 * 28)
test_scaled = test_input / 255.0
test_scaled = test_scaled.reshape(-1, 28 * 28)

dense = keras.layers.Dense(10, activation='softmax', input_shape=(784,))
model = keras.Sequential([dense])
model.compile(loss='sparse_categorical_crossentropy', metrics='accuracy')
model.fit(train_scaled, train_target, epochs=5)
print(model.evaluate(test_scaled, test_target))

pred_detail = model.predict(test_scaled, batch_size=1)
pred_index = np.argmax(pred_detail[0])
print(class_names[pred_index])
