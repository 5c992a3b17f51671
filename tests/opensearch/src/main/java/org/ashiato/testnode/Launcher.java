/*
 * Launcher -- a real single-node OpenSearch 2.19 for the ashiato integration tests.
 *
 * Owns:  one org.opensearch.node.Node in this JVM and the layout under DATA_DIR: data/
 *        (path.data, kept across restarts), logs/ (path.logs) and home/ (path.home, a scratch
 *        directory emptied at every start and removed at a clean close).
 * Lends: nothing; it talks to the tests only through HTTP and one stdout line "READY port=N".
 * Never: installs a security manager or runs jar-hell checks (no test base class, no Bootstrap);
 *        deletes data/: a test stops the node and starts it again on the same data path.
 * Trap:  Node's constructor is protected; plugins are passed as classpath plugins, so the
 *        HTTP transport exists only because Netty4Plugin is in the list. Log4j must be configured
 *        (setNodeName, then LogConfigurator.configure) before the Node is built, and configure
 *        reroutes System.out into a logger, so READY goes to the stream saved before it.
 *
 * Usage: java -cp CLASSPATH org.ashiato.testnode.Launcher DATA_DIR HTTP_PORT [key=value ...]
 *        HTTP_PORT 0 binds a free port; the READY line tells which. key=value pairs are node
 *        settings (e.g. thread_pool.write.queue_size=2) and override the defaults below.
 *        The pseudo-setting launcher.painless=true adds Painless (about 1.5 s more to start).
 *        SIGTERM closes the node cleanly (exit status 143).
 */
package org.ashiato.testnode;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.logging.log4j.LogManager;
import org.opensearch.analysis.common.CommonAnalysisPlugin;
import org.opensearch.common.logging.LogConfigurator;
import org.opensearch.common.settings.Settings;
import org.opensearch.env.Environment;
import org.opensearch.http.HttpServerTransport;
import org.opensearch.node.InternalSettingsPreparer;
import org.opensearch.node.Node;
import org.opensearch.painless.PainlessPlugin;
import org.opensearch.plugins.Plugin;
import org.opensearch.transport.Netty4Plugin;

public final class Launcher {

    private static final String PAINLESS_KEY = "launcher.painless";
    private static final String NODE_NAME = "ashiato-test-node";

    /** Node's constructor is protected: this subclass only opens it up. */
    static final class TestNode extends Node {
        TestNode(Environment env, Collection<Class<? extends Plugin>> plugins) {
            super(env, plugins, true);
        }
    }

    private Launcher() {
    }

    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: Launcher DATA_DIR HTTP_PORT [key=value ...]");
            System.exit(2);
        }
        try {
            run(args);
        } catch (Throwable t) {
            System.err.println("launcher: node failed to start: " + t);
            t.printStackTrace();
            System.err.flush();
            /* halt, not exit: the node's non-daemon threads and hooks must not keep us alive */
            Runtime.getRuntime().halt(1);
        }
    }

    private static void run(String[] args) throws Exception {
        Path dataDir = Paths.get(args[0]).toAbsolutePath().normalize();
        int httpPort = Integer.parseInt(args[1]);
        Path home = dataDir.resolve("home");
        deleteTree(home);  /* left over if the last run was killed */
        Files.createDirectories(home.resolve("config"));
        Files.createDirectories(home.resolve("modules"));
        Files.createDirectories(home.resolve("plugins"));
        Files.createDirectories(dataDir.resolve("data"));
        Files.createDirectories(dataDir.resolve("logs"));
        try (InputStream in = Launcher.class.getResourceAsStream("/log4j2.properties")) {
            Files.copy(in, home.resolve("config").resolve("log4j2.properties"),
                       StandardCopyOption.REPLACE_EXISTING);
        }

        Settings.Builder sb = Settings.builder()
            .put("path.home", home.toString())
            .put("path.data", dataDir.resolve("data").toString())
            .put("path.logs", dataDir.resolve("logs").toString())
            .put("cluster.name", "ashiato-test")
            .put("node.name", NODE_NAME)
            .put("discovery.type", "single-node")
            .put("network.host", "127.0.0.1")
            .put("http.port", Integer.toString(httpPort))
            /* the transport port is unused by a single node; any free one will do */
            .put("transport.port", "0")
            /* a nearly full disk must not turn the tests' indices read-only */
            .put("cluster.routing.allocation.disk.threshold_enabled", "false")
            .put("action.auto_create_index", "true");
        boolean painless = false;
        for (int i = 2; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("setting must be key=value: " + args[i]);
            }
            String key = args[i].substring(0, eq);
            String value = args[i].substring(eq + 1);
            if (key.equals(PAINLESS_KEY)) {
                painless = Boolean.parseBoolean(value);
            } else {
                sb.put(key, value);
            }
        }

        List<Class<? extends Plugin>> plugins = new ArrayList<>();
        plugins.add(Netty4Plugin.class);
        plugins.add(CommonAnalysisPlugin.class);
        if (painless) {
            plugins.add(PainlessPlugin.class);
        }

        /* LogConfigurator routes System.out into a logger: keep the real stream for READY */
        PrintStream console = System.out;
        LogConfigurator.registerErrorListener();
        LogConfigurator.setNodeName(NODE_NAME);
        Environment env = InternalSettingsPreparer.prepareEnvironment(
            sb.build(), Collections.emptyMap(), home.resolve("config"), () -> NODE_NAME);
        LogConfigurator.configure(env);

        long t0 = System.nanoTime();
        Node node = new TestNode(env, plugins);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                if (!node.awaitClose(30, TimeUnit.SECONDS)) {
                    System.err.println("launcher: node did not close within 30 s");
                }
            } catch (IOException | InterruptedException e) {
                System.err.println("launcher: close failed: " + e);
            } finally {
                deleteTree(home);
                stopped.countDown();
            }
        }, "ashiato-node-shutdown"));
        node.start();

        int bound = node.injector().getInstance(HttpServerTransport.class)
            .boundAddress().publishAddress().getPort();
        long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        LogManager.getLogger(Launcher.class).info("node started in {} ms", ms);
        console.println("READY port=" + bound);
        console.flush();
        /* keep the JVM alive (as Bootstrap's keep-alive thread does) until SIGTERM runs the hook */
        stopped.await();
    }

    private static void deleteTree(Path root) {
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<Path>() {
                @Override
                public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                    Files.deleteIfExists(f);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                    Files.deleteIfExists(d);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (NoSuchFileException e) {
            /* nothing to remove */
        } catch (IOException e) {
            System.err.println("launcher: could not remove " + root + ": " + e);
        }
    }
}
