import java.lang.reflect.Field;

import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;

import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

/**
 * DynamoDB Local on 127.0.0.1 only. Its own main listens on every interface and has no host
 * option; this builds the same server from the same arguments (-port, -dbPath, ...), binds its
 * Jetty connector to the loopback address before it starts, and never configures telemetry
 * (nothing is sent, no dynamodb-local-metadata.json is written).
 */
public final class LoopbackDynamoDBLocal {
    private LoopbackDynamoDBLocal() {}

    public static void main(String[] args) throws Exception {
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        Connector[] connectors = server.getConnectors();
        if (connectors.length == 0) {
            throw new IllegalStateException("DynamoDB Local built no connector: nothing to bind to 127.0.0.1");
        }
        for (Connector connector : connectors) {
            ((ServerConnector) connector).setHost("127.0.0.1");  // a cast that fails is better than a public port
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on 127.0.0.1 only");
        proxy.join();
    }
}
