"""The lecture's Program 2 (one hidden layer) on Fashion-MNIST — the Keras program with only the
import line changed. Prints the progress bar and the test accuracy."""
import annc as keras

(train_input, train_target), (test_input, test_target) = keras.datasets.fashion_mnist.load_data()
train_scaled = (train_input / 255.0).reshape(-1, 28 * 28)
test_scaled = (test_input / 255.0).reshape(-1, 28 * 28)

dense1 = keras.layers.Dense(100, activation='relu', input_shape=(784,))
dense2 = keras.layers.Dense(10, activation='softmax')
model = keras.Sequential([dense1, dense2])
model.compile(loss='sparse_categorical_crossentropy', metrics='accuracy')
model.fit(train_scaled, train_target, epochs=5)
loss, accuracy = model.evaluate(test_scaled, test_target)
print(f"test accuracy: {accuracy:.4f}")
